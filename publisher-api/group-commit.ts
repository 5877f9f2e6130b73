/**
 * Group commit for single-row POST /data: concurrent requests are written together, in one
 * multi-row INSERT (one transaction, one commit, one WAL flush), and each request is answered
 * only once that statement has committed, so a 201 still means "durably stored".
 *
 * No timer: a row arriving while a flush may start is flushed on the next turn of the event loop
 * (`setImmediate`, which only gathers the requests already read in the same turn), so a lone
 * client waits for nothing. While flushes run, new rows queue; the next batch is whatever queued
 * meanwhile, up to `maxRows` rows and `maxBytes` of JSON text. The busier the server, the larger
 * the batches, and PostgreSQL commits once per batch instead of once per row.
 *
 * Two flushes may run at once (`GROUP_COMMIT_IN_FLIGHT`), each on its own connection: while one
 * waits for its commit to reach the disk, the next is already executing, and PostgreSQL writes
 * both commits with as few WAL flushes as it can. Measured with `npm run bench:ingest` on the
 * 2-core CI machine, two beat one at concurrency 8 in each of three rounds (about 1.4x the
 * rows/s), for about 10% more PostgreSQL CPU per row at 32 (smaller batches); more than two only
 * makes the batches smaller.
 *
 * POST /data/batch goes through the same queue: a batch is one entry of many rows, never split
 * across statements (all or nothing), and concurrent batches share a statement, and its commit,
 * as single rows do. A flush takes whole entries up to the limits, at least one, however large.
 *
 * One bad row must not fail its neighbours. A flush whose statement fails on its input (a string
 * with \u0000, which jsonb refuses) is retried request by request: the bad row (or the batch
 * holding it) gets its own 400, the others are stored and get their 201s. A flush that fails for
 * another reason (database down, statement timeout) stored nothing, and every request in it gets
 * that error.
 */
import { toAppError } from '../common/errors.js';
import type { InsertConnections, PublisherDb } from './db.js';
import { insertMany, type StoredDatum, type StoredRow } from './ingest.js';

/** Most rows per flush: a short transaction, and replication applies it in one go. */
export const GROUP_COMMIT_MAX_ROWS = 500;
/** Most JSON text per flush (a single row may be larger, up to the body limit). */
export const GROUP_COMMIT_MAX_BYTES = 4 * 1024 * 1024;
/** Flushes in flight at once (see the header). */
export const GROUP_COMMIT_IN_FLIGHT = 2;

/** One request's rows: one for POST /data, a batch's items for POST /data/batch. */
interface Pending {
  bodies: readonly string[];
  /** POST /data echoes the stored JSON; a batch answers ids only. */
  withData: boolean;
  /** Its rows are `rows[at]` onwards, `bodies.length` of them. */
  resolve(rows: StoredDatum[], at: number): void;
  reject(error: unknown): void;
}

export interface GroupCommitStats {
  /** Multi-row statements run (retries after a bad row not included). */
  flushes: number;
  rows: number;
}

export interface GroupCommitOptions {
  maxRows: number;
  maxBytes: number;
  /** Flushes running at once; each needs a connection of its own. */
  inFlight: number;
}

export class GroupCommit {
  readonly stats: GroupCommitStats = { flushes: 0, rows: 0 };
  private queue: Pending[] = [];
  private running = 0;
  private scheduled = false;
  private readonly opts: GroupCommitOptions;

  /**
   * `db`: where the statements run, the API's own connections for them in production
   * (`InsertConnections`, publisher-api/start.ts) or any Kysely instance.
   */
  constructor(
    private readonly db: PublisherDb | InsertConnections,
    opts: Partial<GroupCommitOptions> = {},
  ) {
    this.opts = {
      maxRows: opts.maxRows ?? GROUP_COMMIT_MAX_ROWS,
      maxBytes: opts.maxBytes ?? GROUP_COMMIT_MAX_BYTES,
      inFlight: opts.inFlight ?? GROUP_COMMIT_IN_FLIGHT,
    };
  }

  /** Stores the `data` of a checked `{"data": …}` text; resolves once it has committed. */
  insert(bodyJson: string): Promise<StoredDatum> {
    return new Promise<StoredDatum>((resolve, reject) => {
      this.push({
        bodies: [bodyJson],
        withData: true,
        resolve: (rows, at) => resolve(rows[at] as StoredDatum),
        reject,
      });
    });
  }

  /**
   * Stores a batch's checked texts, all or nothing, in input order; resolves once they have
   * committed. Concurrent batches (and single rows) share statements like single rows do; a
   * batch whose statement fails on its input is retried on its own, so that only it fails.
   */
  insertBatch(bodies: readonly string[]): Promise<StoredRow[]> {
    return new Promise<StoredRow[]>((resolve, reject) => {
      this.push({
        bodies,
        withData: false,
        // A flush of this batch alone returns exactly its rows.
        resolve: (rows, at) =>
          resolve(
            at === 0 && rows.length === bodies.length ? rows : rows.slice(at, at + bodies.length),
          ),
        reject,
      });
    });
  }

  private push(pending: Pending): void {
    this.queue.push(pending);
    this.schedule();
  }

  /**
   * A flush on the next turn of the event loop, if one may start: by then every request read in
   * this turn has queued its row.
   */
  private schedule(): void {
    if (this.scheduled || this.running >= this.opts.inFlight) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      while (this.queue.length > 0 && this.running < this.opts.inFlight) {
        this.running++;
        void this.flush(this.take()).finally(() => {
          this.running--;
          if (this.queue.length > 0) this.schedule();
        });
      }
    });
  }

  /** The next flush: at least one request's rows, then whole requests up to the limits. */
  private take(): Pending[] {
    let n = 0;
    let rows = 0;
    let size = 0;
    while (n < this.queue.length) {
      const next = this.queue[n] as Pending;
      let len = 0;
      for (const b of next.bodies) len += b.length;
      if (
        n > 0 &&
        (rows + next.bodies.length > this.opts.maxRows || size + len > this.opts.maxBytes)
      ) {
        break;
      }
      rows += next.bodies.length;
      size += len;
      n++;
    }
    return this.queue.splice(0, n);
  }

  private async flush(batch: Pending[]): Promise<void> {
    const bodies =
      batch.length === 1 ? (batch[0] as Pending).bodies : batch.flatMap((p) => p.bodies);
    this.stats.flushes++;
    this.stats.rows += bodies.length;
    try {
      const rows = await this.store(
        bodies,
        batch.some((p) => p.withData),
      );
      let at = 0;
      for (const p of batch) {
        p.resolve(rows, at);
        at += p.bodies.length;
      }
    } catch (e) {
      if (batch.length === 1 || toAppError(e)?.code !== 'BAD_USER_INPUT') {
        for (const p of batch) p.reject(e);
        return;
      }
      // The statement stored nothing; one request at a time, so only the bad ones fail. Rare,
      // so plain: the statements queue on the connections.
      await Promise.all(
        batch.map(async (p) => {
          try {
            p.resolve(await this.store(p.bodies, p.withData), 0);
          } catch (err) {
            p.reject(err);
          }
        }),
      );
    }
  }

  private store(bodies: readonly string[], withData: boolean): Promise<StoredDatum[]> {
    // Rows stored without their JSON are only ever handed to insertBatch's callers.
    return insertMany(this.db, bodies, { withData }) as Promise<StoredDatum[]>;
  }
}
