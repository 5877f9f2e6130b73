/**
 * The insert logic and the reads of a publisher's own rows: the one place that knows the data
 * table.
 *
 * Stored JSON is never round-tripped through JavaScript numbers: the request body goes to
 * PostgreSQL as text and `data` is extracted there, and reads return `data::text`. So a number
 * like 12345678901234567890 is stored and echoed back exactly.
 *
 * But PostgreSQL writes numbers out in full (1e131071 is 131,072 digits), so `data::text` is only
 * ever run where `collector_json_servable(data)` holds (sql/publisher/006_json_text_guard.sql).
 * New rows are held to the same rule on the way in (`checkNumberText`); rows stored before it
 * existed are answered with TOO_LARGE_TO_SERVE instead of crashing the process that reads them.
 */
import { CompiledQuery, type Kysely, sql, type Transaction } from 'kysely';
import type { JsonBody } from '../common/body.js';
import { AppError, badInput, notFound } from '../common/errors.js';
import { checkJsonDepth, checkNumberText, MAX_JSON_DEPTH } from '../common/json.js';
import { fetchPage, isUuid, type Page, type PageArgs } from '../common/keyset.js';
import { InsertConnections, type PublisherDB, type PublisherDb } from './db.js';
import {
  claimKey,
  deleteExpiredKey,
  findKey,
  type RememberedKey,
  requestHash,
} from './idempotency.js';

/** A datum as stored, with its JSON kept as PostgreSQL's text form. */
export interface StoredDatum {
  id: string;
  publisher: string;
  /** null when the stored value cannot be written out safely (see the header). */
  dataJson: string | null;
  createdAt: Date;
}

/** A datum as an INSERT that did not return its JSON answers it (POST /data/batch). */
export type StoredRow = Omit<StoredDatum, 'dataJson'>;

const servableJson = sql<
  string | null
>`CASE WHEN collector_json_servable(data) THEN data::text END`.as('dataJson');
const READ_COLUMNS = ['id', 'publisher', servableJson, 'created_at as createdAt'] as const;
// A row just inserted passed checkNumberText: its text is safe, and the guard's scan is skipped.
const INSERTED_COLUMNS = [
  'id',
  'publisher',
  sql<string>`data::text`.as('dataJson'),
  'created_at as createdAt',
] as const;

/**
 * Checks a request body of the form `{"data": <any JSON value>}`. Only `data` is accepted: the
 * id, the publisher's name and the timestamp always come from the database.
 */
export function checkIngestBody(body: JsonBody): void {
  checkDatumObject(body.value, body.text);
}

/**
 * Checks one `{"data": …}` object, parsed (`value`) and as the text that will be stored (`text`).
 * `where` ("Item 3", "Line 4") prefixes each message, for the items of a batch. Without `text`
 * (an item not yet written out), only its shape and depth are checked.
 */
export function checkDatumObject(value: unknown, text: string | undefined, where?: string): void {
  const at = where === undefined ? '' : `${where}: `;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw badInput(`${at}The body must be a JSON object: {"data": <any JSON value>}`);
  }
  if (!Object.hasOwn(value, 'data')) {
    throw badInput(`${at}Missing field "data": send {"data": <any JSON value>}`);
  }
  const extra = Object.keys(value).filter((k) => k !== 'data');
  if (extra.length > 0) {
    throw badInput(
      `${at}Unknown field(s) ${extra.map((k) => `"${k}"`).join(', ')}: only "data" is accepted; ` +
        'the id, publisher and createdAt are assigned by the server',
    );
  }
  // Each level of nesting takes a bracket of the text: a shorter text cannot be too deep.
  if (text === undefined || text.length > MAX_JSON_DEPTH) {
    checkJsonDepth((value as { data: unknown }).data, `${at}"data"`);
  }
  // The whole object's text: "data" is its only member, so its numbers are the object's numbers.
  if (text !== undefined) checkNumberText(text, `${at}"data"`);
}

type Db = Kysely<PublisherDB> | Transaction<PublisherDB>;

/**
 * Stores the `data` member of a request body (JSON text already checked by `checkIngestBody`).
 * One statement, so a failure stores nothing.
 */
export async function insertDatum(db: Db, bodyJson: string): Promise<StoredDatum> {
  return db
    .insertInto('data')
    .columns(['data'])
    .expression(sql`SELECT (${bodyJson}::jsonb) -> 'data'`)
    .returning(INSERTED_COLUMNS)
    .executeTakeFirstOrThrow();
}

/**
 * The multi-row INSERT: the `data` member of each `{"data": …}` text, in one statement (one
 * transaction, all or nothing, one commit for all of them). The texts travel as one parameter,
 * joined by `ROW_SEPARATOR`, so the statement's text (and its prepared plan) is the same for any
 * number of rows.
 *
 * One joined text rather than a `text[]`: an array parameter is written out by `pg` element by
 * element, each one scanned to escape its quotes and backslashes (a JSON text is full of quotes),
 * and parsed back by PostgreSQL's array_in; `string_to_table` only looks for the separator.
 * U+001E (record separator) cannot occur in a JSON text: JSON escapes every control character
 * inside strings, and allows none outside them (the parsers that checked the bodies refuse it).
 * A text that holds one anyway (or an empty one) goes through the `unnest($1::text[])` form.
 *
 * POST /data's statement answers a row per datum, with its stored JSON (`data::text`). POST
 * /data/batch's answers one row, whatever the number of items: the ids joined by commas, and the
 * publisher and the time once, as every row of one statement has the same ones (created_at is
 * now(), the transaction's start; publisher is the table's default). Measured on 100-row
 * batches, reading a row per item (`pg` parsing each DataRow message and each row's timestamp)
 * was a quarter of the API's CPU; one row cut the API's CPU per item by a quarter (100 items) to
 * two fifths (1,000), for no more PostgreSQL CPU. For the few rows of a POST /data flush (about
 * 10 at concurrency 32) the aggregate costs PostgreSQL more than it saves the API, so that one
 * stays a row per datum. The min and max of the publisher and the time both come back, so that a
 * table changed to break that rule (an operator setting created_at's default to clock_timestamp())
 * is refused loudly instead of answered with wrong times: the statement has committed by then,
 * so the rows are stored, and the request gets a 500 whose log line says what changed.
 *
 * The rows come back in input order: the SELECT feeds them to the INSERT sorted by position,
 * RETURNING yields them in the order they were inserted, and string_agg reads them in that order
 * (PostgreSQL does not promise either in words; the API's role may not choose ids to join on,
 * and the tests pin the order).
 */
const ROW_SEPARATOR = '\x1e';
const FROM_JOINED = `string_to_table($1, E'\\x1e')`;
const FROM_ARRAY = 'unnest($1::text[])';
const insertText = (from: string) => `INSERT INTO data (data)
SELECT (t.body::jsonb) -> 'data' FROM ${from} WITH ORDINALITY AS t(body, n)
ORDER BY t.n`;
const rowPerDatum = (from: string) => `${insertText(from)}
RETURNING id, publisher, data::text AS "dataJson", created_at AS "createdAt"`;
const oneRow = (from: string) => `WITH stored AS (
${insertText(from)}
RETURNING id, publisher, created_at
)
SELECT string_agg(id::text, ',') AS ids,
  min(publisher) AS publisher, max(publisher) AS "lastPublisher",
  min(created_at) AS "createdAt", max(created_at) AS "lastCreatedAt"
FROM stored`;
/** The statements by name: [joined text, text[]] × [with the stored JSON, without]. */
const INSERT_MANY = {
  withData: [
    ['collector_insert_many', rowPerDatum(FROM_JOINED)],
    ['collector_insert_many_array', rowPerDatum(FROM_ARRAY)],
  ],
  withoutData: [
    ['collector_insert_batch', oneRow(FROM_JOINED)],
    ['collector_insert_batch_array', oneRow(FROM_ARRAY)],
  ],
} as const;

/** The one row of the batch statements (`oneRow`). */
interface InsertedIds {
  ids: string | null;
  publisher: string | null;
  lastPublisher: string | null;
  createdAt: Date | null;
  lastCreatedAt: Date | null;
}

/** The rows of a batch statement's answer, checked against the number of texts sent. */
function batchRows(answer: InsertedIds | undefined, count: number): StoredRow[] {
  const ids = answer?.ids ? answer.ids.split(',') : [];
  if (ids.length !== count) throw new Error(`INSERT of ${count} rows returned ${ids.length}`);
  const { publisher, lastPublisher, createdAt, lastCreatedAt } = answer as InsertedIds;
  if (
    publisher === null ||
    publisher !== lastPublisher ||
    createdAt === null ||
    createdAt.getTime() !== lastCreatedAt?.getTime()
  ) {
    throw new Error(
      'INSERT returned rows with different publishers or times: the data table no longer ' +
        'stamps every row of a statement alike (publisher default, created_at DEFAULT now())',
    );
  }
  const ms = createdAt.getTime();
  return ids.map((id) => ({ id, publisher, createdAt: new Date(ms) }));
}

/**
 * Stores the `data` member of each of `bodies` (`{"data": …}` texts, checked) with one
 * multi-row INSERT, through Kysely (a batch, in or out of a transaction) or on the group commit's
 * own connections. Precompiled: the text never changes, so there is nothing for Kysely to build
 * per call. `withData: false` (POST /data/batch, whose answer names ids only) leaves the stored
 * JSON out, and answers in one row (above).
 */
export async function insertMany(
  db: Db | InsertConnections,
  bodies: readonly string[],
  opts?: { withData: true },
): Promise<StoredDatum[]>;
export async function insertMany(
  db: Db | InsertConnections,
  bodies: readonly string[],
  opts: { withData: boolean },
): Promise<StoredRow[]>;
export async function insertMany(
  db: Db | InsertConnections,
  bodies: readonly string[],
  opts: { withData: boolean } = { withData: true },
): Promise<StoredRow[]> {
  // Never true for bodies a JSON parser accepted; the array form stores any text correctly. (An
  // empty text would vanish: string_to_table('') has no rows.)
  const asArray = bodies.some((b) => b === '' || b.includes(ROW_SEPARATOR));
  const [name, text] = INSERT_MANY[opts.withData ? 'withData' : 'withoutData'][asArray ? 1 : 0];
  const param = asArray ? bodies : bodies.join(ROW_SEPARATOR);
  const rows =
    db instanceof InsertConnections
      ? await db.query<object>(name, text, [param])
      : (await db.executeQuery<object>(CompiledQuery.raw(text, [param]))).rows;
  if (!opts.withData) return batchRows(rows[0] as InsertedIds | undefined, bodies.length);
  if (rows.length !== bodies.length) {
    throw new Error(`INSERT of ${bodies.length} rows returned ${rows.length}`);
  }
  return rows as StoredDatum[];
}

/**
 * After a batch statement failed on its input: the first body that jsonb refuses (a string with
 * \u0000, a lone surrogate), by position from 0, with PostgreSQL's reason. JSON.parse accepted
 * all of them, so the database is the judge. Undefined when every body is valid jsonb.
 */
export async function firstInvalidJsonb(
  db: Db,
  bodies: readonly string[],
): Promise<{ index: number; message: string } | undefined> {
  const { rows } = await sql<{ n: string; message: string }>`SELECT t.n, e.message
FROM unnest(${bodies}::text[]) WITH ORDINALITY AS t(body, n),
  LATERAL pg_input_error_info(t.body, 'jsonb') AS e
WHERE e.message IS NOT NULL ORDER BY t.n LIMIT 1`.execute(db);
  const row = rows[0];
  return row && { index: Number(row.n) - 1, message: row.message };
}

export interface Stored {
  datum: StoredDatum;
  /** True when an earlier request with the same Idempotency-Key stored it. */
  replayed: boolean;
}

/** Thrown inside the transaction to roll its row back when another request holds the key. */
class KeyTaken extends Error {}

/**
 * Stores a checked body. With an Idempotency-Key, at most once per key (within `ttlSeconds`): a
 * retry gets the row the first request stored; the same key with another body is a CONFLICT.
 */
export async function storeDatum(
  db: PublisherDb,
  body: JsonBody,
  opts: {
    idempotencyKey?: string;
    ttlSeconds: number;
    /** Where rows without a key go: the group commit (publisher-api/group-commit.ts). */
    groupCommit?: { insert(bodyJson: string): Promise<StoredDatum> };
  },
): Promise<Stored> {
  const key = opts.idempotencyKey;
  if (key === undefined) {
    const datum = await (opts.groupCommit?.insert(body.text) ?? insertDatum(db, body.text));
    return { datum, replayed: false };
  }
  // With a key, the row and the key are written in a transaction of their own (not grouped).
  const hash = requestHash(body.text);
  // Twice at most in practice: a key found taken on the way in is read on the second round.
  // More only if it expires in between, which a sweep running right then can cause.
  for (let round = 0; round < 5; round++) {
    const earlier = await findKey(db, key, opts.ttlSeconds);
    if (earlier) return { datum: await replay(db, key, earlier, hash), replayed: true };
    try {
      const datum = await db.transaction().execute(async (trx) => {
        await deleteExpiredKey(trx, key, opts.ttlSeconds);
        // The row first: if jsonb refuses the value, the key was never taken.
        const stored = await insertDatum(trx, body.text);
        // Waits here while a concurrent request holding the key is still in its transaction.
        if (!(await claimKey(trx, key, hash, stored.id))) throw new KeyTaken();
        return stored;
      });
      return { datum, replayed: false };
    } catch (e) {
      if (!(e instanceof KeyTaken)) throw e;
    }
  }
  throw new AppError(
    'SERVICE_UNAVAILABLE',
    'The Idempotency-Key is being taken and released concurrently; retry the request shortly.',
  );
}

async function replay(
  db: PublisherDb,
  key: string,
  earlier: RememberedKey,
  hash: Buffer,
): Promise<StoredDatum> {
  if (!earlier.requestHash.equals(hash)) {
    throw new AppError(
      'CONFLICT',
      `The Idempotency-Key "${key}" was used at ${earlier.createdAt.toISOString()} with a ` +
        `different body, which stored datum ${earlier.dataId}. Use a new key for a new datum; ` +
        'reuse a key only to retry the very same request.',
    );
  }
  return readDatum(db, earlier.dataId);
}

async function readDatum(db: PublisherDb, id: string): Promise<StoredDatum> {
  const row = await db
    .selectFrom('data')
    .select(READ_COLUMNS)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw notFound(`No datum with id ${id} on this publisher`);
  return row;
}

/** Why a stored value is not served, for a 422 or a list item's "error". */
function tooLargeToServe(id: string): AppError {
  return new AppError(
    'TOO_LARGE_TO_SERVE',
    `Datum ${id} cannot be served as JSON: its numbers would take more than 4 MiB once written ` +
      'out in full, as PostgreSQL writes every digit (1e131071 becomes 131,072 digits). It was ' +
      'stored before such values were refused; read it in the database with jsonb functions.',
  );
}

export async function getDatum(db: PublisherDb, id: string): Promise<StoredDatum> {
  if (!isUuid(id)) throw badInput(`"${id}" is not a UUID`);
  const datum = await readDatum(db, id);
  if (datum.dataJson === null) throw tooLargeToServe(id);
  return datum;
}

export async function listData(db: PublisherDb, page: PageArgs): Promise<Page<StoredDatum>> {
  return fetchPage(db.selectFrom('data').select(READ_COLUMNS), page);
}

/**
 * The JSON of one datum for a response, splicing in the stored JSON text unchanged. A datum that
 * cannot be served has `"data": null` and an `"error"` member saying why.
 */
export function datumJson(d: StoredDatum): string {
  // A uuid and an ISO 8601 time have nothing to escape.
  const head = `{"id":"${d.id}","publisher":${JSON.stringify(d.publisher)}`;
  const tail = `"createdAt":"${d.createdAt.toISOString()}"}`;
  if (d.dataJson !== null) return `${head},"data":${d.dataJson},${tail}`;
  const { code, message } = tooLargeToServe(d.id);
  return `${head},"data":null,"error":${JSON.stringify({ code, message })},${tail}`;
}
