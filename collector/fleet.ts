/**
 * The fleet as the subscriber sees it: one subscription per publisher (collector_<name>), its
 * state, lag, rows and errors. PostgreSQL 18 gives views, not answers; this module turns them into
 * one state per publisher. What each source can tell (measured on PostgreSQL 18.4):
 *
 * - pg_subscription: enabled, conninfo, slot name, disable_on_error, the skip LSN.
 * - pg_stat_subscription: one row per worker (apply, table sync), or one row of NULLs when none
 *   runs. It has NO error text: a worker that cannot connect, or that fails applying, simply has
 *   no pid.
 * - pg_stat_subscription_stats: apply_error_count, sync_error_count and the confl_* counters. A
 *   worker that cannot connect counts nowhere (it dies before applying anything), and
 *   disable_on_error does not act on it: PostgreSQL retries the connection by itself. Errors once
 *   streaming count, and disable: conflicts and apply errors, but also a stream that breaks ("could
 *   not receive data from WAL stream" when the publisher restarts). Such a subscription is shown
 *   `unreachable` with `brokenStream`, and the gateway's fleet monitor re-enables it.
 * - The error text, and the failing transaction's finish LSN ("... in transaction 123, finished at
 *   0/1A2B3C8" in the CONTEXT line), are only in the subscriber's server log. A superuser can read
 *   it over SQL with pg_read_file: pg_current_logfile() with logging_collector, else
 *   `postgresql.log` in the data directory, where the embedded clusters write it.
 * - The log also tells an operator's DISABLE from one by disable_on_error: the worker logs
 *   `subscription "…" has been disabled because of an error`, and every start logs `logical
 *   replication apply worker for subscription "…" has started`; whichever came last wins.
 * - Only the publisher knows the slot (pg_replication_slots: missing, wal_status = lost) and the
 *   lag in bytes (pg_current_wal_lsn() - confirmed_flush_lsn) and in time (pg_stat_replication).
 */
import { type Kysely, sql } from 'kysely';
import { createKysely } from '../common/db.js';
import { deadline } from '../common/deadline.js';
import type { SubscriberDB } from '../subscriber-graphql/db.js';
import { countRows, type RowCounts } from './row-counts.js';

export const SUBSCRIPTION_PREFIX = 'collector_';

export type PublisherState =
  | 'streaming'
  | 'catching up'
  | 'unreachable'
  | 'stopped by error'
  | 'disabled'
  | 'slot lost';

/** Beyond these, a running subscription is "catching up" rather than "streaming". */
export const CATCHING_UP_BYTES = 1024 * 1024;
export const CATCHING_UP_SECONDS = 10;

export interface SubscriptionInfo {
  name: string;
  subscription: string;
  oid: number;
  enabled: boolean;
  /** libpq conninfo with password and sslpassword removed. */
  conninfo: string;
  slotName: string | null;
  disableOnError: boolean;
  /** A pending ALTER SUBSCRIPTION … SKIP (lsn), or null. */
  skipLsn: string | null;
}

/** Removes password and sslpassword from a libpq conninfo (key=value pairs or a URI). */
export function redactConninfo(conninfo: string): string {
  if (/^postgres(ql)?:\/\//.test(conninfo)) {
    try {
      const url = new URL(conninfo);
      url.password = '';
      url.searchParams.delete('password');
      url.searchParams.delete('sslpassword');
      return url.toString();
    } catch {
      return '(unparsable conninfo)';
    }
  }
  const kept: string[] = [];
  const re = /\s*([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/gy;
  for (let m = re.exec(conninfo); m; m = re.exec(conninfo)) {
    if (m[1] !== 'password' && m[1] !== 'sslpassword') kept.push(`${m[1]}=${m[2]}`);
  }
  return kept.join(' ');
}

type Db = Kysely<SubscriberDB>;

/**
 * How status reads what only a superuser may read directly. Default: the catalogs and
 * pg_read_file (the CLI, as the subscriber's superuser). `monitor`: through the SECURITY DEFINER
 * functions of sql/subscriber/022_monitor.sql, in a session running as collector_monitor (the
 * gateway's fleet monitor, which is no superuser).
 */
export interface FleetAccess {
  monitor?: boolean;
  /**
   * Rows received per publisher, counted incrementally (the gateway's fleet monitor, which
   * refreshes every few seconds); without it, the whole table is counted (the CLI, once).
   */
  rowCounts?: RowCounts;
  /**
   * How long the status waits for `rowCounts` before it goes on without them (rows unknown; the
   * count carries on, and the next status may have it).
   */
  rowCountsWaitMs?: number;
}

const waitAtMost = <T>(p: Promise<T>, ms: number | undefined) =>
  ms === undefined ? p : deadline(p, ms, `not done within ${ms} ms`);

export async function listSubscriptions(
  db: Db,
  access: FleetAccess = {},
): Promise<SubscriptionInfo[]> {
  const source = access.monitor
    ? sql`collector_monitor_subscriptions() AS pg_subscription`
    : sql`pg_subscription`;
  const { rows } = await sql<{
    oid: number;
    subname: string;
    subenabled: boolean;
    subconninfo: string;
    subslotname: string | null;
    subdisableonerr: boolean;
    subskiplsn: string;
  }>`
    SELECT oid::int AS oid, subname, subenabled, subconninfo, subslotname, subdisableonerr,
           subskiplsn::text AS subskiplsn
      FROM ${source}
     WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND starts_with(subname, ${SUBSCRIPTION_PREFIX})
     ORDER BY subname`.execute(db);
  return rows.map((r) => ({
    name: r.subname.slice(SUBSCRIPTION_PREFIX.length),
    subscription: r.subname,
    oid: r.oid,
    enabled: r.subenabled,
    conninfo: redactConninfo(r.subconninfo),
    slotName: r.subslotname,
    disableOnError: r.subdisableonerr,
    skipLsn: r.subskiplsn === '0/0' || r.subskiplsn === '0/00000000' ? null : r.subskiplsn,
  }));
}

/** A pg_lsn's text (`0/1BAB660`) as a number that compares like it. */
export function lsnValue(lsn: string): bigint {
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi || '0'}`) << 32n) + BigInt(`0x${lo || '0'}`);
}

// ---------------------------------------------------------------------------------------------
// The subscriber's server log

export interface LogError {
  at: string;
  kind: 'connect' | 'apply' | 'slot';
  message: string;
  detail?: string;
  context?: string;
  /** "finished at X/Y" of the CONTEXT line: what ALTER SUBSCRIPTION … SKIP (lsn) wants. */
  finishLsn?: string;
}

export interface SubscriptionLog {
  lastStarted?: { at: string; index: number };
  lastDisabledByError?: { at: string; index: number };
  lastError?: LogError & { index: number };
}

interface Entry {
  at: string;
  pid: string;
  level: string;
  text: string;
}

// PostgreSQL's default log_line_prefix, '%m [%p] ': "2026-11-26 17:20:01.123 UTC [4242] ERROR:  …".
const LINE =
  /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: \S+)?) \[(\d+)\] (LOG|ERROR|FATAL|WARNING|DETAIL|CONTEXT|HINT|STATEMENT|NOTICE|INFO|PANIC|DEBUG\d?):\s+(.*)$/;

function parseLog(text: string): Entry[] {
  const entries: Entry[] = [];
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (m) entries.push({ at: m[1] ?? '', pid: m[2] ?? '', level: m[3] ?? '', text: m[4] ?? '' });
    else if (entries.length > 0 && line.trim() !== '') {
      const last = entries[entries.length - 1] as Entry;
      last.text += ` ${line.trim()}`;
    }
  }
  return entries;
}

const quoted = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * What the log says about one subscription: its workers' starts (which tell us their pids), their
 * errors with DETAIL and CONTEXT, and disables by disable_on_error.
 */
export function readSubscriptionLog(
  text: string,
  subscription: string,
  oid?: number,
): SubscriptionLog {
  const entries = parseLog(text);
  const name = quoted(subscription);
  const started = new RegExp(
    `logical replication (apply|table synchronization) worker for subscription "${name}".* has started`,
  );
  const disabled = new RegExp(`subscription "${name}" has been disabled because of an error`);
  const pids = new Set<string>();
  const out: SubscriptionLog = {};
  // The open error of each pid, to which its DETAIL and CONTEXT lines belong.
  const open = new Map<string, LogError & { index: number }>();
  // Errors of workers whose start is no longer in the log's tail: ours if their CONTEXT names our
  // replication origin, pg_<subscription oid>.
  const origin = oid === undefined ? undefined : `replication origin "pg_${oid}"`;
  const candidates = new Map<string, LogError & { index: number }>();
  entries.forEach((e, index) => {
    if (e.level === 'LOG' && started.test(e.text)) {
      pids.add(e.pid);
      open.delete(e.pid);
      if (e.text.includes('apply worker')) out.lastStarted = { at: e.at, index };
      return;
    }
    if (e.level === 'LOG' && disabled.test(e.text)) {
      out.lastDisabledByError = { at: e.at, index };
      return;
    }
    if (e.level === 'ERROR' || e.level === 'FATAL') {
      const mentionsUs = e.text.includes(`subscription "${subscription}"`);
      if (!pids.has(e.pid) && !mentionsUs) {
        if (e.level === 'ERROR')
          candidates.set(e.pid, { at: e.at, kind: 'apply', message: e.text, index });
        return;
      }
      // A stream that breaks (the publisher stopped, the network failed) is no apply failure.
      const kind: LogError['kind'] =
        /could not connect to the publisher|could not receive data from WAL stream|could not send end-of-streaming message|server closed the connection unexpectedly|terminating walreceiver due to timeout/.test(
          e.text,
        )
          ? 'connect'
          : /replication slot .* does not exist|can no longer (get changes from|access) replication slot|This replication slot has been invalidated/.test(
                e.text,
              )
            ? 'slot'
            : 'apply';
      // "terminating logical replication worker due to administrator command" and the like are
      // not failures of the subscription.
      if (e.level === 'FATAL' && !mentionsUs) return;
      const error = { at: e.at, kind, message: e.text, index };
      open.set(e.pid, error);
      out.lastError = error;
      return;
    }
    const candidate = candidates.get(e.pid);
    if (candidate && e.level === 'CONTEXT' && origin && e.text.includes(origin)) {
      candidates.delete(e.pid);
      open.set(e.pid, candidate);
      if (!out.lastError || out.lastError.index < candidate.index) out.lastError = candidate;
    } else if (candidate && e.level !== 'DETAIL' && e.level !== 'HINT') {
      candidates.delete(e.pid);
      if (e.level !== 'CONTEXT') return;
    } else if (candidate && e.level === 'DETAIL') {
      candidate.detail = e.text;
      return;
    }
    const error = open.get(e.pid);
    if (!error) return;
    if (e.level === 'DETAIL') error.detail = e.text;
    else if (e.level === 'CONTEXT') {
      error.context = e.text;
      error.finishLsn = /finished at ([0-9A-F]+\/[0-9A-F]+)/.exec(e.text)?.[1];
      if (/replication slot/.test(e.text) && error.kind === 'apply') error.kind = 'slot';
    } else if (e.level !== 'HINT' && e.level !== 'STATEMENT') open.delete(e.pid);
  });
  return out;
}

/** The last `bytes` of the subscriber's server log, over SQL, or why it cannot be read. */
export async function readServerLog(
  db: Db,
  bytes = 2 * 1024 * 1024,
  access: FleetAccess = {},
): Promise<{ text: string } | { unavailable: string }> {
  try {
    if (access.monitor) {
      const { rows } = await sql<{ text: string | null }>`
        SELECT collector_monitor_log(${bytes}::int) AS text`.execute(db);
      return { text: rows[0]?.text ?? '' };
    }
    const { rows } = await sql<{ file: string | null }>`
      SELECT coalesce(pg_current_logfile(), 'postgresql.log') AS file`.execute(db);
    const file = rows[0]?.file ?? 'postgresql.log';
    const read = await sql<{ text: string }>`
      SELECT pg_read_file(${file}, greatest(0, (pg_stat_file(${file})).size - ${bytes}), ${bytes})
        AS text`.execute(db);
    return { text: read.rows[0]?.text ?? '' };
  } catch (e) {
    return { unavailable: (e as Error).message };
  }
}

/**
 * Why a disabled subscription is disabled, from the log (read as a superuser): `error` when
 * disable_on_error did it, with the error when the log still has it, and `brokenStream` when that
 * error was a stream that broke rather than a fault of the data; null when not by an error (an
 * operator's DISABLE, or the log cannot tell).
 */
export async function disabledByError(
  db: Db,
  subscription: string,
): Promise<{ error?: LogError; brokenStream: boolean } | null> {
  const { rows } = await sql<{ oid: number }>`
    SELECT oid::int AS oid FROM pg_subscription WHERE subname = ${subscription}`.execute(db);
  const log = await readServerLog(db);
  if (!rows[0] || !('text' in log)) return null;
  return disableCause(readSubscriptionLog(log.text, subscription, rows[0].oid));
}

/**
 * Whether disable_on_error disabled the subscription since its worker last started, with the error
 * that made it act (the last one logged before it did); null when the log shows no such disable.
 */
function disableCause(
  events: SubscriptionLog,
): { error?: LogError & { index: number }; brokenStream: boolean } | null {
  const disabled = events.lastDisabledByError;
  if (!disabled || (events.lastStarted && events.lastStarted.index > disabled.index)) return null;
  const error =
    events.lastError && events.lastError.index < disabled.index ? events.lastError : undefined;
  return { error, brokenStream: error?.kind === 'connect' };
}

// ---------------------------------------------------------------------------------------------
// The publisher's side

export interface PublisherSide {
  /** Why the publisher could not be asked (from this machine), if it could not. */
  error?: string;
  slotFound?: boolean;
  slotActive?: boolean;
  walStatus?: string | null;
  lagBytes?: number | null;
  lagSeconds?: number | null;
}

export async function askPublisher(url: string, slotName: string): Promise<PublisherSide> {
  const db = createKysely<unknown>(url, {
    max: 1,
    applicationName: 'collector-cli',
    statementTimeoutMs: 5000,
  });
  const within5s = <T>(query: Promise<T>) => deadline(query, 5000, 'no answer within 5 s');
  try {
    // The collector_lag login (sql/publisher/013) may only call this function, which reads both
    // views as their owner: the lag in seconds too.
    const viaFunction = await within5s(
      sql<{
        active: boolean;
        wal_status: string | null;
        lag_bytes: string | null;
        lag_seconds: number | null;
      }>`SELECT active, wal_status, lag_bytes::text AS lag_bytes, lag_seconds
           FROM collector_slot_lag(${slotName})`.execute(db),
    ).catch((e: Error & { code?: string }) => {
      // Not there (a publisher set up before it), or not ours to call: ask the views directly.
      if (e.code === '42883' || e.code === '42501') return null;
      throw e;
    });
    if (viaFunction) {
      const row = viaFunction.rows[0];
      if (!row) return { slotFound: false };
      return {
        slotFound: true,
        slotActive: row.active,
        walStatus: row.wal_status,
        lagBytes: row.lag_bytes === null ? null : Math.max(0, Number(row.lag_bytes)),
        lagSeconds: row.lag_seconds,
      };
    }
    const slot = await within5s(
      sql<{ active: boolean; wal_status: string | null; lag_bytes: string | null }>`
        SELECT active, wal_status,
               pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag_bytes
          FROM pg_replication_slots WHERE slot_name = ${slotName}`.execute(db),
    );
    const row = slot.rows[0];
    if (!row) return { slotFound: false };
    // The walsender's application_name is the subscription's name (the default slot name).
    // Without pg_read_all_stats (the replication role, as the gateway asks) the row shows its pid
    // only: state is NULL, and the lag unknown rather than 0.
    const rep = await sql<{ lag: number | null }>`
      SELECT CASE WHEN state IS NOT NULL
                  THEN extract(epoch FROM coalesce(replay_lag, interval '0'))::float8 END AS lag
        FROM pg_stat_replication WHERE application_name = ${slotName}`.execute(db);
    return {
      slotFound: true,
      slotActive: row.active,
      walStatus: row.wal_status,
      lagBytes: row.lag_bytes === null ? null : Math.max(0, Number(row.lag_bytes)),
      lagSeconds: rep.rows[0]?.lag ?? null,
    };
  } catch (e) {
    return { error: (e as Error).message };
  } finally {
    await db.destroy().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// Status

export interface PublisherStatus {
  name: string;
  subscription: string;
  state: PublisherState;
  /** Why, for every state but streaming and catching up. */
  reason: string | null;
  enabled: boolean;
  workerPid: number | null;
  lastMessageAt: string | null;
  secondsSinceLastMessage: number | null;
  /** From the publisher (null when it cannot be asked from here). */
  lagBytes: number | null;
  lagSeconds: number | null;
  /**
   * Rows of this publisher on the subscriber; null when the gateway's monitor has no count for
   * this refresh: its first count of a large table (or one after a change of the fleet) still
   * under way, or the count failed or took too long (collector/row-counts.ts).
   */
  rowsReceived: number | null;
  applyErrorCount: number;
  syncErrorCount: number;
  /** PostgreSQL 18's confl_* counters, by conflict type (insert_exists, update_missing, …). */
  conflicts: Record<string, number>;
  /** The transaction that stopped the subscription, when the log tells. */
  failedTransaction: { finishLsn: string | null; error: string; at: string } | null;
  /**
   * Disabled by disable_on_error because its stream broke (the publisher stopped or restarted, the
   * network failed), not because of its data: safe to re-enable, which the fleet monitor does.
   */
  brokenStream: boolean;
  /** Where the error text comes from: the log, or why it could not be read. */
  logSource: string;
  publisher: PublisherSide | null;
}

interface WorkerRow {
  subname: string;
  pid: number | null;
  worker_type: string | null;
  last_msg_receipt_time: Date | null;
  seconds_since: number | null;
}

/** The failure the log shows, as one line: message, then DETAIL. */
function describe(error: LogError): string {
  return error.detail ? `${error.message} (${error.detail})` : error.message;
}

export async function fleetStatus(
  db: Db,
  publisherUrls: Map<string, string> = new Map(),
  access: FleetAccess = {},
): Promise<PublisherStatus[]> {
  const subs = await listSubscriptions(db, access);
  // Alongside the rest (the publishers may take seconds to answer). The monitor's incremental
  // count may fail or be slow on its own (behind a transaction left open for hours): the rest of
  // the status still stands, with the rows unknown.
  const counting = access.rowCounts
    ? waitAtMost(access.rowCounts.count(db, subs), access.rowCountsWaitMs).catch(() => undefined)
    : countRows(db);
  // Awaited below; a failure before that must not go unhandled (the CLI's count rejects there).
  counting.catch(() => {});
  const workers = await sql<WorkerRow>`
    SELECT subname, pid, worker_type, last_msg_receipt_time,
           extract(epoch FROM now() - last_msg_receipt_time)::float8 AS seconds_since
      FROM pg_stat_subscription`.execute(db);
  const stats = await sql<Record<string, unknown> & { subname: string }>`
    SELECT * FROM pg_stat_subscription_stats`.execute(db);
  const syncing = await sql<{ subname: string; n: number }>`
    SELECT s.subname, count(*)::int AS n
      FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
     WHERE r.srsubstate <> 'r' GROUP BY s.subname`.execute(db);
  // Where each subscription has applied up to (its origin is pg_<oid>): a failed transaction whose
  // finish LSN lies beyond it has still not been applied, whether a worker runs right now or not.
  const origins = await sql<{ external_id: string; remote_lsn: string | null }>`
    SELECT external_id, remote_lsn::text AS remote_lsn FROM pg_replication_origin_status`.execute(
    db,
  );
  const log = await readServerLog(db, undefined, access);
  const logSource =
    'text' in log ? 'subscriber log' : `subscriber log unreadable: ${log.unavailable}`;

  return Promise.all(
    subs.map(async (sub): Promise<PublisherStatus> => {
      const mine = workers.rows.filter((w) => w.subname === sub.subscription);
      const apply = mine.find((w) => w.pid !== null && w.worker_type !== 'table synchronization');
      const stat: Record<string, unknown> =
        stats.rows.find((s) => s.subname === sub.subscription) ?? {};
      const conflicts: Record<string, number> = {};
      for (const [k, v] of Object.entries(stat)) {
        if (k.startsWith('confl_')) conflicts[k.slice('confl_'.length)] = Number(v ?? 0);
      }
      const url = publisherUrls.get(sub.name);
      const publisher = url && sub.slotName ? await askPublisher(url, sub.slotName) : null;
      const events = 'text' in log ? readSubscriptionLog(log.text, sub.subscription, sub.oid) : {};
      const lastError = events.lastError;
      const errorAfterStart =
        lastError &&
        (events.lastStarted === undefined || lastError.index > events.lastStarted.index)
          ? lastError
          : undefined;
      const applied = origins.rows.find((o) => o.external_id === `pg_${sub.oid}`)?.remote_lsn;
      const stuck =
        lastError?.kind === 'apply' &&
        lastError.finishLsn !== undefined &&
        lsnValue(lastError.finishLsn) > lsnValue(applied ?? '0/0');
      const applyErrorCount = Number(stat.apply_error_count ?? 0);
      const syncErrorCount = Number(stat.sync_error_count ?? 0);

      // Every branch below sets it (stoppedBy too, which TypeScript cannot follow).
      let state: PublisherState = 'unreachable';
      let reason: string | null = null;
      let failed: PublisherStatus['failedTransaction'] = null;
      let brokenStream = false;
      const stoppedBy = (error: (LogError & { index: number }) | undefined) => {
        state = 'stopped by error';
        if (error) {
          reason = describe(error);
          failed = { finishLsn: error.finishLsn ?? null, error: describe(error), at: error.at };
        } else {
          reason = `apply errors: ${applyErrorCount}, sync errors: ${syncErrorCount}; see the subscriber log`;
        }
      };
      if (publisher?.slotFound === false) {
        state = 'slot lost';
        reason = `slot ${sub.slotName} is missing on the publisher`;
      } else if (publisher?.walStatus === 'lost') {
        state = 'slot lost';
        reason = `slot ${sub.slotName} was invalidated (wal_status = lost): the publisher removed WAL it had not sent`;
      } else if (errorAfterStart?.kind === 'slot' && !apply) {
        state = 'slot lost';
        reason = describe(errorAfterStart);
      } else if (!sub.enabled) {
        const byError = disableCause(events);
        if (byError?.brokenStream && byError.error) {
          state = 'unreachable';
          brokenStream = true;
          reason = `${describe(byError.error)}; the subscription was disabled when its stream broke: the gateway's fleet monitor re-enables it, or run collector publishers resume ${sub.name}`;
        } else if (byError || (!('text' in log) && applyErrorCount + syncErrorCount > 0)) {
          // Without the log, errors since the counters were reset are the best evidence there is.
          stoppedBy(byError?.error);
        } else {
          state = 'disabled';
          reason = 'disabled by ALTER SUBSCRIPTION … DISABLE';
        }
      } else if (stuck) {
        // The worker retries the failing transaction every wal_retrieve_retry_interval: between
        // two attempts it may be running, but it is not getting past it.
        stoppedBy(lastError);
      } else if (apply) {
        state = 'streaming';
        const lagging =
          (publisher?.lagBytes ?? 0) > CATCHING_UP_BYTES ||
          (publisher?.lagSeconds ?? 0) > CATCHING_UP_SECONDS ||
          syncing.rows.some((r) => r.subname === sub.subscription);
        if (lagging) state = 'catching up';
      } else if (
        errorAfterStart?.kind === 'apply' ||
        (lastError?.kind === 'apply' && !events.lastStarted)
      ) {
        // Enabled, no worker, failing on a change: disable_on_error is off (a subscription made
        // before it was set, or by hand), so PostgreSQL retries it for ever.
        stoppedBy(errorAfterStart ?? lastError);
      } else {
        state = 'unreachable';
        reason =
          lastError?.kind === 'connect'
            ? describe(lastError)
            : `no apply worker is running (${'text' in log ? 'no error in the subscriber log' : 'see the subscriber log'})`;
      }

      const since =
        apply?.seconds_since ?? mine.find((w) => w.seconds_since !== null)?.seconds_since;
      const last = apply?.last_msg_receipt_time ?? null;
      const counts = await counting;
      return {
        name: sub.name,
        subscription: sub.subscription,
        state,
        reason,
        enabled: sub.enabled,
        workerPid: apply?.pid ?? null,
        lastMessageAt: last ? last.toISOString() : null,
        secondsSinceLastMessage: since === undefined || since === null ? null : Math.max(0, since),
        lagBytes: publisher?.lagBytes ?? null,
        lagSeconds: publisher?.lagSeconds ?? null,
        rowsReceived: counts ? (counts.get(sub.name) ?? 0) : null,
        applyErrorCount,
        syncErrorCount,
        conflicts,
        failedTransaction: failed,
        brokenStream,
        logSource,
        publisher,
      };
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Resume

export interface ResumeResult {
  subscription: string;
  wasEnabled: boolean;
  skipped: { finishLsn: string; error: string } | null;
  /** The error that stopped it, when known, if it was not skipped. */
  lastError: string | null;
  finishLsn: string | null;
}

export class FleetError extends Error {}

/**
 * Re-enables a stopped subscription, first skipping the transaction that stopped it when asked.
 * The finish LSN comes from the log's CONTEXT line ("finished at …"), and must lie beyond what the
 * subscription has already applied (its replication origin's remote_lsn), so that an old error in
 * the log can never make us skip a transaction that has not failed.
 */
export async function resumeSubscription(
  db: Db,
  name: string,
  opts: { skipFailedTransaction: boolean },
): Promise<ResumeResult> {
  const subs = await listSubscriptions(db);
  const sub = subs.find((s) => s.name === name);
  if (!sub) {
    throw new FleetError(
      `no publisher "${name}": the publishers are ${subs.map((s) => s.name).join(', ') || '(none)'}`,
    );
  }
  const log = await readServerLog(db);
  const events = 'text' in log ? readSubscriptionLog(log.text, sub.subscription, sub.oid) : {};
  const error =
    events.lastError && events.lastError.kind !== 'connect' ? events.lastError : undefined;
  const result: ResumeResult = {
    subscription: sub.subscription,
    wasEnabled: sub.enabled,
    skipped: null,
    lastError: error ? describe(error) : null,
    finishLsn: error?.finishLsn ?? null,
  };
  const ident = sql.id(sub.subscription);
  if (opts.skipFailedTransaction) {
    if (!error?.finishLsn) {
      throw new FleetError(
        `cannot find the failing transaction of ${sub.subscription}: ${
          'text' in log
            ? 'the subscriber log shows no apply error with "finished at <LSN>"'
            : `the subscriber log cannot be read (${log.unavailable})`
        }. Find "finished at <LSN>" in the subscriber's log, then run: ALTER SUBSCRIPTION ${sub.subscription} SKIP (lsn = '<LSN>'); ALTER SUBSCRIPTION ${sub.subscription} ENABLE;`,
      );
    }
    const { rows } = await sql<{ applied: string | null; beyond: boolean | null }>`
      SELECT remote_lsn::text AS applied, ${error.finishLsn}::pg_lsn > remote_lsn AS beyond
        FROM pg_replication_origin_status
       WHERE external_id = ${`pg_${sub.oid}`}`.execute(db);
    if (rows[0] && rows[0].beyond === false) {
      throw new FleetError(
        `the last error in the log (transaction finished at ${error.finishLsn}) is older than what ${sub.subscription} has applied since (${rows[0].applied}): nothing to skip. Run without --skip-failed-transaction to re-enable it.`,
      );
    }
    await sql`ALTER SUBSCRIPTION ${ident} SKIP (lsn = ${sql.lit(error.finishLsn)})`.execute(db);
    result.skipped = { finishLsn: error.finishLsn, error: describe(error) };
  }
  if (!sub.enabled) await sql`ALTER SUBSCRIPTION ${ident} ENABLE`.execute(db);
  return result;
}
