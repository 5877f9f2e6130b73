/**
 * The fleet as the gateway sees it: collector/fleet.ts's status of every publisher, refreshed by a
 * periodic monitor so that a scrape of /metrics is cheap and never waits on an unreachable
 * publisher, and served to admins by the `publishers` query.
 *
 * Privileges (README, Security): fleet.ts needs what only a superuser may read directly
 * (pg_subscription.subconninfo, the server log). The gateway is no superuser: its monitor has its
 * own small pool whose sessions run as collector_monitor (`-c role=collector_monitor`), a role the
 * gateway's login may SET but does not inherit (sql/subscriber/022_monitor.sql). That role may
 * only call four SECURITY DEFINER functions (the subscriptions, their conninfo without its
 * password; the log lines of replication workers; ENABLE of a subscription that a broken stream
 * stopped, sql/subscriber/024; the start of the oldest open transaction, for counting rows,
 * sql/subscriber/027) and read how far each subscription has applied, and two columns of data.
 *
 * The publishers' side (slot, lag) is asked with logins of their own, COLLECTOR_PUBLISHER_MONITOR_URLS,
 * never with the subscriptions' replication password (as good as a publisher's superuser's: a
 * logical walsender accepts BASE_BACKUP). Setup makes collector_lag for that on each publisher
 * (sql/publisher/013): it may only call collector_slot_lag(), which answers the slot and the lag
 * in bytes and seconds. Another login that may connect reads the slot and the lag in bytes, and
 * the lag in seconds with pg_read_all_stats. A publisher without a URL is not asked: its lag is
 * unknown, and a dropped slot shows only once the worker logs it.
 */
import type { FastifyBaseLogger } from 'fastify';
import { type Kysely, sql } from 'kysely';
import { fleetStatus, type PublisherState, type PublisherStatus } from '../../collector/fleet.js';
import { RowCounts } from '../../collector/row-counts.js';
import { deadline } from '../../common/deadline.js';
import { AppError } from '../../common/errors.js';
import type { AuthUser } from '../auth.js';
import type { SubscriberDB } from '../db.js';

export interface FleetSnapshot {
  /** When this status was taken (ms since the epoch); 0 before the first success. */
  at: number;
  statuses: PublisherStatus[];
  /** Why the last refresh failed, if it did (`statuses` are then the last good ones). */
  error?: string;
  /** How long the last refresh took, in seconds. */
  durationSeconds?: number;
}

export interface FleetMonitorOptions {
  /** Between periodic refreshes; 0: refresh only when asked (a scrape, a query). */
  intervalMs: number;
  /** A refresh that takes longer is abandoned (the last status is kept, marked stale). */
  timeoutMs: number;
  log: FastifyBaseLogger;
  /** Logins on the publishers, by name, to ask for slots and lag (COLLECTOR_PUBLISHER_MONITOR_URLS). */
  publisherUrls?: Map<string, string>;
}

export class FleetMonitor {
  private snapshot: FleetSnapshot = { at: 0, statuses: [] };
  private inflight?: Promise<FleetSnapshot>;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly states = new Map<string, PublisherState>();
  /** Times each publisher's subscription was re-enabled after its stream broke. */
  readonly reenabled = new Map<string, number>();
  private reenableError?: string;
  /** Rows received per publisher: the whole table once, then only the rows received since. */
  readonly rowCounts = new RowCounts();
  private countError?: string;

  constructor(
    private readonly db: Kysely<SubscriberDB>,
    readonly opts: FleetMonitorOptions,
  ) {}

  get latest(): FleetSnapshot {
    return this.snapshot;
  }

  start(): void {
    if (this.opts.intervalMs <= 0) return;
    const tick = () => {
      if (this.stopped) return;
      void this.refresh().finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.opts.intervalMs);
      });
    };
    tick();
  }

  /** Stops the periodic refresh and waits for one in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inflight?.catch(() => {});
  }

  /** The status, refreshed first if older than `maxAgeMs` (the interval by default). */
  async current(maxAgeMs = this.opts.intervalMs): Promise<FleetSnapshot> {
    if (this.snapshot.at > 0 && !this.snapshot.error && Date.now() - this.snapshot.at <= maxAgeMs) {
      return this.snapshot;
    }
    return this.refresh();
  }

  /** One refresh at a time: callers meanwhile share it. Never rejects. */
  refresh(): Promise<FleetSnapshot> {
    this.inflight ??= this.run().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async run(): Promise<FleetSnapshot> {
    const began = performance.now();
    try {
      // Re-enabling runs within the same time bound: a database that stops answering cannot
      // hold the refresh (and the `publishers` query waiting on it).
      const statuses = await deadline(
        fleetStatus(this.db, this.opts.publisherUrls ?? new Map(), {
          monitor: true,
          rowCounts: this.rowCounts,
          // Within the refresh's own timeout, leaving time for the rest.
          rowCountsWaitMs: this.opts.timeoutMs / 2,
        }).then(async (statuses) => {
          await this.reenableBrokenStreams(statuses);
          return statuses;
        }),
        this.opts.timeoutMs,
        `no status within ${this.opts.timeoutMs} ms`,
      );
      this.noteChanges(statuses);
      const countError = this.rowCounts.lastError;
      if (countError && countError !== this.countError) {
        this.opts.log.warn(`fleet monitor: cannot count the rows received: ${countError}`);
      }
      this.countError = countError;
      this.snapshot = {
        at: Date.now(),
        statuses,
        durationSeconds: (performance.now() - began) / 1000,
      };
    } catch (e) {
      const error = (e as Error).message;
      if (this.snapshot.error !== error) {
        this.opts.log.warn({ err: e }, `fleet monitor: cannot read the fleet's status: ${error}`);
      }
      this.snapshot = {
        ...this.snapshot,
        error,
        durationSeconds: (performance.now() - began) / 1000,
      };
    }
    return this.snapshot;
  }

  /**
   * disable_on_error stops a subscription on a conflict, as it should, but PostgreSQL 18 also
   * disables one whose stream broke (its publisher restarted). Those, and only those, are enabled
   * again (collector_monitor_reenable, sql/subscriber/024): the worker then reconnects, or keeps
   * retrying the connection by itself while the publisher is down. A conflict stays stopped until
   * `collector publishers resume`.
   */
  private async reenableBrokenStreams(statuses: PublisherStatus[]): Promise<void> {
    for (const s of statuses) {
      if (!s.brokenStream) continue;
      try {
        const { rows } = await sql<{ done: boolean }>`
          SELECT collector_monitor_reenable(${s.subscription}) AS done`.execute(this.db);
        if (!rows[0]?.done) continue;
        this.reenabled.set(s.name, (this.reenabled.get(s.name) ?? 0) + 1);
        this.opts.log.info(
          { publisher: s.name, reason: s.reason },
          'publisher subscription re-enabled after its stream broke',
        );
        this.reenableError = undefined;
      } catch (e) {
        const error = (e as Error).message;
        if (this.reenableError !== error) {
          this.opts.log.warn(
            { err: e, publisher: s.name },
            `fleet monitor: cannot re-enable ${s.subscription} (stopped when its stream broke): ${error}; run collector publishers resume ${s.name}`,
          );
        }
        this.reenableError = error;
      }
    }
  }

  /** One log line per publisher whose state changed since the last refresh (and when first seen). */
  private noteChanges(statuses: PublisherStatus[]): void {
    const seen = new Set<string>();
    for (const s of statuses) {
      seen.add(s.name);
      const from = this.states.get(s.name) ?? null;
      if (from === s.state) continue;
      this.states.set(s.name, s.state);
      const line = { publisher: s.name, from, to: s.state, reason: s.reason };
      if (s.state === 'streaming' || s.state === 'catching up') {
        this.opts.log.info(line, 'publisher state changed');
      } else {
        this.opts.log.warn(line, 'publisher state changed');
      }
    }
    for (const name of [...this.states.keys()]) {
      if (seen.has(name)) continue;
      this.opts.log.info(
        { publisher: name, from: this.states.get(name), to: null, reason: 'subscription removed' },
        'publisher state changed',
      );
      this.states.delete(name);
    }
  }
}

/**
 * The `publishers` query: every publisher's current status, for admins only. A fresh status
 * unless one from the last second is at hand.
 */
export async function publishersStatus(
  user: AuthUser,
  monitor: FleetMonitor | undefined,
): Promise<PublisherStatus[]> {
  if (user.role !== 'admin') {
    throw new AppError('FORBIDDEN', 'Only an admin may read the status of the publishers.');
  }
  if (!monitor) {
    throw new AppError('SERVICE_UNAVAILABLE', 'This gateway runs without a fleet monitor.');
  }
  const snapshot = await monitor.current(1000);
  if (snapshot.error) {
    const hint = /permission denied|does not exist/.test(snapshot.error)
      ? " The gateway's database role must be allowed to SET ROLE collector_monitor (sql/subscriber/022_monitor.sql, applied by collector setup)."
      : '';
    throw new AppError(
      'SERVICE_UNAVAILABLE',
      `The status of the publishers cannot be read now: ${snapshot.error}.${hint}`,
    );
  }
  return snapshot.statuses;
}
