/**
 * Rows received per publisher on the subscriber: what `collector publishers status`, the
 * `publishers` query and `collector_publisher_rows_received_total` report.
 *
 * Counting the whole table (`countRows`) reads every row: fine for a one-off command, not for the
 * gateway's fleet monitor, which refreshes every 10 s with an 8 s timeout: about a second of
 * PostgreSQL's time at 5 million rows on 2 cores, and past the timeout at a few tens of millions.
 * `RowCounts` counts the table once, then only the rows received since (by received_at, an index
 * range scan), and adds them up.
 *
 * received_at is a row's transaction start (DEFAULT now()), and a transaction may commit long
 * after it started (the initial copy of a large publisher, a large transaction applied), so
 * "rows received before time T" can still grow after T. Each count therefore asks the subscriber
 * for the start of the oldest transaction still open there (sql/subscriber/027): every row
 * stamped before it is committed or rolled back, so its count is final ("settled"), and the next
 * count starts there. Rows stamped after it are counted again each time, until they settle.
 *
 * The whole table is counted again when the fleet changes (a publisher added, removed or resynced:
 * a subscription with a new oid, whose rows may have been deleted or copied again), and when the
 * settled time moves back (the subscriber's clock stepped back), so that neither leaves a wrong
 * count behind.
 */
import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: any database holding the subscriber's data table.
type Db = Kysely<any>;

/** Rows per publisher name. */
export type Counts = Map<string, number>;

/** Every row of the data table, counted now, per publisher. */
export async function countRows(db: Db): Promise<Counts> {
  return (await count(db)).total;
}

/** Counts rows received at or after `from` (all, without it), in all and before `settled`. */
async function count(
  db: Db,
  from?: string,
  settled?: string,
): Promise<{ total: Counts; settled: Counts }> {
  const { rows } = await sql<{ publisher: string; total: string; settled: string }>`
    SELECT publisher, count(*)::text AS total,
           ${settled === undefined ? sql`0` : sql`count(*) FILTER (WHERE received_at < ${settled}::timestamptz)`}::text AS settled
      FROM data
     ${from === undefined ? sql`` : sql`WHERE received_at >= ${from}::timestamptz`}
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

export interface RowCountsOptions {
  /**
   * Taken off the settled time, ms: a transaction's start is stamped an instant before it shows
   * in pg_stat_activity. Default 1,000.
   */
  marginMs?: number;
}

export class RowCounts {
  /** Rows received before `before` (PostgreSQL's text of a timestamptz), per publisher: final. */
  private settled?: { before: string; counts: Counts; fleet: string };
  private inflight?: Promise<Counts>;
  /** See RowCountsOptions. */
  marginMs: number;
  /** Whole-table counts so far (the first, and after a change of the fleet or the clock). */
  fullCounts = 0;

  constructor(opts: RowCountsOptions = {}) {
    this.marginMs = opts.marginMs ?? 1000;
  }

  /**
   * Rows received per publisher now. `fleet`: the subscriptions, by name and oid; when they
   * change, the whole table is counted again. One count at a time: callers meanwhile share it
   * (a count that outlives a caller's timeout still completes, and the next caller gains by it).
   */
  count(db: Db, fleet: ReadonlyArray<{ name: string; oid: number }>): Promise<Counts> {
    this.inflight ??= this.run(
      db,
      fleet
        .map((s) => `${s.name}:${s.oid}`)
        .sort()
        .join(','),
    ).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /**
   * The time before which every row has been committed or rolled back, less the margin, as
   * PostgreSQL's text (undefined while that cannot be known: a prepared transaction is open), and
   * whether it lies before `last` (the clock stepped back).
   */
  protected async settledBefore(
    db: Db,
    last: string | undefined,
  ): Promise<{ before: string | undefined; back: boolean }> {
    const { rows } = await sql<{ before: string | null; back: boolean | null }>`
      SELECT b::text AS before, b < ${last ?? null}::timestamptz AS back
        FROM (SELECT collector_monitor_rows_settled_before()
                     - make_interval(secs => ${this.marginMs / 1000}) AS b) AS s`.execute(db);
    return { before: rows[0]?.before ?? undefined, back: rows[0]?.back === true };
  }

  private async run(db: Db, fleet: string): Promise<Counts> {
    const last = this.settled?.fleet === fleet ? this.settled : undefined;
    const { before, back } = await this.settledBefore(db, last?.before);
    if (last && !back) {
      // Nothing settles while a prepared transaction is open: count from the same time again.
      const until = before ?? last.before;
      const tail = await count(db, last.before, until);
      this.settled = { before: until, counts: add(last.counts, tail.settled), fleet };
      return add(last.counts, tail.total);
    }
    this.fullCounts++;
    const all = await count(db, undefined, before);
    this.settled = before === undefined ? undefined : { before, counts: all.settled, fleet };
    return all.total;
  }
}
