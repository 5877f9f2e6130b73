/**
 * Idempotency-Key of POST /data: the one place that knows the idempotency_key table
 * (sql/publisher/007_idempotency.sql). A key is remembered with the row it stored, for a
 * configured lifetime (a day by default), then expires: lookups ignore it, the next request with
 * it takes it anew, and a periodic sweep deletes it.
 *
 * Concurrency is the database's: a key is taken by an INSERT … ON CONFLICT DO NOTHING in the
 * transaction that stores the row, so a concurrent request with the same key waits on the
 * uncommitted key until the first transaction ends, then finds it taken (or, if the first failed
 * and rolled back, takes it). No in-memory state: several API processes may share a database.
 */
import { createHash } from 'node:crypto';
import { type Kysely, sql, type Transaction } from 'kysely';
import { badInput } from '../common/errors.js';
import type { PublisherDB, PublisherDb } from './db.js';

/** 1 to 255 visible ASCII characters: what clients use (UUIDs, ULIDs, hashes) and no more. */
const KEY_RE = /^[\x21-\x7e]{1,255}$/;

/**
 * The Idempotency-Key header's value, undefined when the header is absent. Throws
 * BAD_USER_INPUT for a value that is not 1 to 255 visible ASCII characters (a header sent twice
 * arrives joined by ", ", and is refused too).
 */
export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const key = Array.isArray(header) ? header.join(', ') : header;
  if (!KEY_RE.test(key)) {
    throw badInput(
      'The Idempotency-Key header must be 1 to 255 visible ASCII characters (no spaces), ' +
        'e.g. a UUID: send one key per datum, and the same key again only to retry it.',
    );
  }
  return key;
}

/** SHA-256 of the request body's text: the same key with another body is a client error. */
export function requestHash(bodyText: string): Buffer {
  return createHash('sha256').update(bodyText, 'utf8').digest();
}

export interface RememberedKey {
  dataId: string;
  requestHash: Buffer;
  createdAt: Date;
}

type Db = Kysely<PublisherDB> | Transaction<PublisherDB>;

const expiredBefore = (ttlSeconds: number) =>
  sql<Date>`now() - make_interval(secs => ${ttlSeconds})`;

/** The key as remembered, unless absent or expired. */
export async function findKey(
  db: Db,
  key: string,
  ttlSeconds: number,
): Promise<RememberedKey | undefined> {
  return db
    .selectFrom('idempotency_key')
    .select(['data_id as dataId', 'request_hash as requestHash', 'created_at as createdAt'])
    .where('key', '=', key)
    .where('created_at', '>=', expiredBefore(ttlSeconds))
    .executeTakeFirst();
}

/** Deletes the key if it has expired, so that this transaction can take it anew. */
export async function deleteExpiredKey(db: Db, key: string, ttlSeconds: number): Promise<void> {
  await db
    .deleteFrom('idempotency_key')
    .where('key', '=', key)
    .where('created_at', '<', expiredBefore(ttlSeconds))
    .execute();
}

/**
 * Takes the key for `dataId`, or returns false if another transaction holds it. If that
 * transaction has not committed yet, this waits for it to end (the unique index does).
 */
export async function claimKey(
  db: Db,
  key: string,
  hash: Buffer,
  dataId: string,
): Promise<boolean> {
  const taken = await db
    .insertInto('idempotency_key')
    .values({ key, request_hash: hash, data_id: dataId })
    .onConflict((oc) => oc.column('key').doNothing())
    .returning('key')
    .executeTakeFirst();
  return taken !== undefined;
}

/** Keys deleted per statement by the sweep: short transactions, short locks. */
const SWEEP_BATCH = 10_000;

/** Deletes expired keys, in batches; returns how many. */
export async function deleteExpiredKeys(db: PublisherDb, ttlSeconds: number): Promise<number> {
  let total = 0;
  for (;;) {
    const result = await db
      .deleteFrom('idempotency_key')
      .where('key', 'in', (qb) =>
        qb
          .selectFrom('idempotency_key')
          .select('key')
          .where('created_at', '<', expiredBefore(ttlSeconds))
          .limit(SWEEP_BATCH),
      )
      .executeTakeFirst();
    const deleted = Number(result.numDeletedRows);
    total += deleted;
    if (deleted < SWEEP_BATCH) return total;
  }
}

export interface Repeating {
  /** Stops the schedule and waits for a run in progress to finish. */
  stop(): Promise<void>;
}

/**
 * Runs `task` every `intervalMs`, one run at a time (the next is scheduled when one ends). The
 * timer never keeps the process alive; errors go to `onError` and the schedule goes on.
 */
export function repeat(
  task: () => Promise<unknown>,
  intervalMs: number,
  onError: (e: unknown) => void,
): Repeating {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const schedule = () => {
    timer = setTimeout(tick, intervalMs);
    timer.unref();
  };
  const tick = () => {
    running = task()
      .then(
        () => undefined,
        (e) => onError(e),
      )
      .finally(() => {
        running = undefined;
        if (!stopped) schedule();
      });
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

interface Log {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/** The API process's periodic deletion of expired keys. */
export function startKeySweep(
  db: PublisherDb,
  opts: { ttlSeconds: number; intervalSeconds: number },
  log: Log,
): Repeating {
  return repeat(
    async () => {
      const deleted = await deleteExpiredKeys(db, opts.ttlSeconds);
      if (deleted > 0) log.debug({ deleted }, 'expired idempotency keys deleted');
    },
    opts.intervalSeconds * 1000,
    (err) => log.warn({ err }, 'deleting expired idempotency keys failed; will retry'),
  );
}
