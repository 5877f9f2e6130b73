/**
 * Rows received per publisher on the subscriber: what `collector publishers status`, the
 * `publishers` query and `collector_publisher_rows_received_total` report.
 *
 * Counting the whole table at once (`countRows`) reads every row: fine for a one-off command, not
 * for the gateway's fleet monitor, which refreshes every 10 s within an 8 s timeout: about a second
 * of PostgreSQL's time at 5 million rows on 2 cores, and past the timeout at a few tens of
 * millions, where every refresh would fail. `RowCounts` counts the whole table once, in slices of
 * the (received_at, id) index of at most `sliceRows` rows, for at most `budgetMs` per call (so
 * over several refreshes on a large table; the counts are unknown until it is done), then only the
 * rows received since, and adds them up.
 *
 * received_at is a row's transaction start (DEFAULT now()), and a transaction may commit long
 * after it started (the initial copy of a large publisher, a large transaction applied), so
 * "rows received before time T" can still grow after T. Each call therefore asks the subscriber
 * for the time before which every row has been committed or rolled back (the start of the oldest
 * transaction still open there, sql/subscriber/027): rows stamped before it are final
 * ("settled"), and are never read again; rows stamped after it are counted again each time, until
 * they settle.
 *
 * When that time moves back (a transaction older than it shows up: a table sync worker starting,
 * an apply worker rereading its subscription in a transaction stamped with its last change; or
 * the clock stepped back), rows may still appear before the settled time: the whole table is
 * counted again at once, the counts so far served meanwhile.
 *
 * The whole table is counted again, in the background while the counts so far keep being served,
 * every `recountMs` (1 hour), which heals what the rule above cannot see (rows written by hand
 * with an old received_at; a parallel apply worker stamping a transaction with an older time, as
 * PostgreSQL's does when a streamed transaction begins in a subtransaction); and at once, with
 * the counts unknown meanwhile, when the fleet changes (a publisher added, removed or resynced: a
 * subscription with a new oid, whose rows may have been deleted or copied again).
 */
import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: any database holding the subscriber's data table.
type Db = Kysely<any>;

/** Rows per publisher name. */
export type Counts = Map<string, number>;

/** Every row of the data table, counted now, per publisher, in one statement. */
export async function countRows(db: Db): Promise<Counts> {
  const { rows } = await sql<{ publisher: string; n: string }>`
    SELECT publisher, count(*)::text AS n FROM data GROUP BY publisher`.execute(db);
  return new Map(rows.map((r) => [r.publisher, Number(r.n)]));
}

/** PostgreSQL's timestamps travel as ISO 8601 text (to_json's), whatever the session's DateStyle. */
type Time = string;

/** Rows received at or after `from`: all of them, and those received before `settled`. */
async function countSince(db: Db, from: Time, settled: Time) {
  const { rows } = await sql<{ publisher: string; total: string; settled: string }>`
    SELECT publisher, count(*)::text AS total,
           count(*) FILTER (WHERE received_at < ${settled}::timestamptz)::text AS settled
      FROM data WHERE received_at >= ${from}::timestamptz
     GROUP BY publisher`.execute(db);
  return {
    total: new Map(rows.map((r) => [r.publisher, Number(r.total)])),
    settled: new Map(rows.map((r) => [r.publisher, Number(r.settled)])),
  };
}

function add(a: Counts, b: Counts): Counts {
  const sum = new Map(a);
  for (const [k, v] of b) sum.set(k, (sum.get(k) ?? 0) + v);
  return sum;
}

/** Rows received before `before`, per publisher: final. */
interface Settled {
  before: Time;
  counts: Counts;
  /** The subscriptions they were counted for (name:oid, sorted). */
  fleet: string;
}

/** A whole-table count in progress: rows received before `before`, up to `after` so far. */
interface Recount extends Settled {
  after?: { receivedAt: Time; id: string };
}

export interface RowCountsOptions {
  /**
   * Taken off the settled time, ms: a transaction's start is stamped an instant before it shows
   * in pg_stat_activity. Default 1,000.
   */
  marginMs?: number;
  /** Rows per slice of a whole-table count (one statement each). Default 200,000. */
  sliceRows?: number;
  /** How long one call may spend on a whole-table count, ms (at least one slice). Default 1,000. */
  budgetMs?: number;
  /** Between whole-table counts, ms. Default 1 hour. */
  recountMs?: number;
}

export class RowCounts {
  private settled?: Settled;
  private recount?: Recount;
  /** When the last whole-table count ended (performance.now()). */
  private recountedAt = 0;
  private inflight?: Promise<Counts | undefined>;
  /** See RowCountsOptions. */
  marginMs: number;
  private readonly opts: Required<Omit<RowCountsOptions, 'marginMs'>>;
  /** Whole-table counts finished so far. */
  fullCounts = 0;
  /** Why the last call failed, if it did. */
  lastError?: string;
  /** Taken off the subscriber's answer, ms: 0, but a test may set the clock back with it. */
  protected skewMs = 0;

  constructor(opts: RowCountsOptions = {}) {
    this.marginMs = opts.marginMs ?? 1000;
    this.opts = {
      sliceRows: Math.max(1, opts.sliceRows ?? 200_000),
      budgetMs: opts.budgetMs ?? 1000,
      recountMs: opts.recountMs ?? 3_600_000,
    };
  }

  /**
   * Rows received per publisher now; undefined while the first whole-table count (or one after a
   * change of the fleet) is still under way. `fleet`: the subscriptions, by name and oid. One call
   * at a time: concurrent callers share the one in progress, whatever their arguments (the fleet
   * monitor is the only caller).
   */
  count(db: Db, fleet: ReadonlyArray<{ name: string; oid: number }>): Promise<Counts | undefined> {
    this.inflight ??= this.run(
      db,
      fleet
        .map((s) => `${s.name}:${s.oid}`)
        .sort()
        .join(','),
    )
      .then(
        (counts) => {
          this.lastError = undefined;
          return counts;
        },
        (e: unknown) => {
          this.lastError = e instanceof Error ? e.message : String(e);
          throw e;
        },
      )
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }

  /**
   * The time before which every row has been committed or rolled back, less the margin
   * (undefined while that cannot be known); and whether that time itself (without the margin,
   * which only covers the instant before a transaction shows) lies before the settled time so
   * far, or the whole-table count's in progress: then rows may still appear before them.
   */
  protected async settledBefore(db: Db): Promise<{
    before: Time | undefined;
    /** The time itself lies before the settled time so far / the whole-table count's. */
    beforeSettled: boolean;
    beforeRecount: boolean;
    /** The time less the margin does: counting must not move back to it (rows counted twice). */
    belowSettled: boolean;
    belowRecount: boolean;
  }> {
    const { rows } = await sql<{
      before: Time | null;
      s: boolean | null;
      r: boolean | null;
      sm: boolean | null;
      rm: boolean | null;
    }>`
      SELECT to_json(o - m) #>> '{}' AS before,
             o < ${this.settled?.before ?? null}::timestamptz AS s,
             o < ${this.recount?.before ?? null}::timestamptz AS r,
             o - m < ${this.settled?.before ?? null}::timestamptz AS sm,
             o - m < ${this.recount?.before ?? null}::timestamptz AS rm
        FROM (SELECT collector_monitor_rows_settled_before()
                     - make_interval(secs => ${this.skewMs / 1000}) AS o,
                     make_interval(secs => ${this.marginMs / 1000}) AS m) AS t`.execute(db);
    const row = rows[0] as (typeof rows)[number];
    return {
      before: row.before ?? undefined,
      beforeSettled: row.s === true,
      beforeRecount: row.r === true,
      belowSettled: row.sm === true,
      belowRecount: row.rm === true,
    };
  }

  private async run(db: Db, fleet: string): Promise<Counts | undefined> {
    const began = performance.now();
    if (this.settled && this.settled.fleet !== fleet) this.settled = undefined;
    if (this.recount && this.recount.fleet !== fleet) this.recount = undefined;
    const { before, beforeSettled, beforeRecount, belowSettled, belowRecount } =
      await this.settledBefore(db);

    // The settled time moved back: a transaction older than it is open (a table sync worker
    // starting, an apply worker rereading its subscription inside a transaction stamped with its
    // last change), or the clock stepped back. Rows may yet appear before it, which the counts
    // so far would miss: they are served as they are while the whole table is counted again
    // (at once, below), and the counting since stays where it is meanwhile. A whole-table count
    // in progress starts again from the earlier time.
    if (beforeRecount) this.recount = undefined;

    // The counts so far, and the rows received since.
    let counts: Counts | undefined;
    if (this.settled) {
      // Nothing settles while the settled time is not known, or lies before the last one.
      const until = before === undefined || belowSettled ? this.settled.before : before;
      const since = await countSince(db, this.settled.before, until);
      counts = add(this.settled.counts, since.total);
      this.settled = {
        ...this.settled,
        before: until,
        counts: add(this.settled.counts, since.settled),
      };
    }

    if (!this.settled && !this.recount && before === undefined) {
      // No settled time to start from (a prepared transaction, or track_activities off): the
      // whole table at once, as a one-off command counts it.
      return countRows(db);
    }

    // The whole table: the first time, after a change, and every recountMs.
    const due =
      !this.settled || beforeSettled || performance.now() - this.recountedAt >= this.opts.recountMs;
    if (!this.recount && due && before !== undefined) {
      this.recount = { before, counts: new Map(), fleet };
    }
    const recount = this.recount;
    if (!recount) return counts;
    try {
      if (!(await this.slices(db, recount, began))) return counts;
      // From the recount's time to now, as above; then the recount is the count so far.
      const until = before === undefined || belowRecount ? recount.before : before;
      const since = await countSince(db, recount.before, until);
      this.recount = undefined;
      this.recountedAt = performance.now();
      this.fullCounts++;
      this.settled = { before: until, counts: add(recount.counts, since.settled), fleet };
      return add(recount.counts, since.total);
    } catch (e) {
      // A background recount that failed (a statement timeout on a busy subscriber) resumes at
      // the next call; the counts so far still stand.
      if (counts) return counts;
      throw e;
    }
  }

  /** Counts slices of `recount` until the budget is spent; true once the table is done. */
  private async slices(db: Db, recount: Recount, began: number): Promise<boolean> {
    do {
      const after = recount.after
        ? sql`AND (received_at, id) > (${recount.after.receivedAt}::timestamptz, ${recount.after.id}::uuid)`
        : sql``;
      const { rows } = await sql<{ publisher: string; n: number; last_at: Time; last_id: string }>`
        WITH slice AS MATERIALIZED (
          SELECT received_at, id, publisher FROM data
           WHERE received_at < ${recount.before}::timestamptz ${after}
           ORDER BY received_at, id LIMIT ${this.opts.sliceRows}
        ), last AS (
          SELECT received_at, id FROM slice ORDER BY received_at DESC, id DESC LIMIT 1
        )
        SELECT s.publisher, count(*)::int AS n,
               (SELECT to_json(received_at) #>> '{}' FROM last) AS last_at,
               (SELECT id::text FROM last) AS last_id
          FROM slice s GROUP BY s.publisher`.execute(db);
      let read = 0;
      for (const r of rows) {
        read += r.n;
        recount.counts.set(r.publisher, (recount.counts.get(r.publisher) ?? 0) + r.n);
      }
      // Moved on after the last slice too: if what follows it fails, that slice is not read twice.
      const last = rows[0];
      if (last) recount.after = { receivedAt: last.last_at, id: last.last_id };
      if (read < this.opts.sliceRows) return true;
    } while (performance.now() - began < this.opts.budgetMs);
    return false;
  }
}
