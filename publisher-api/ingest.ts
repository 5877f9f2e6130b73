/**
 * The insert logic and the reads of a publisher's own rows: the one place that knows the data
 * table.
 *
 * Stored JSON is never round-tripped through JavaScript numbers: the request body goes to
 * PostgreSQL as text and `data` is extracted there, and reads return `data::text`. So a number
 * like 12345678901234567890 is stored and echoed back exactly.
 */
import { sql } from 'kysely';
import { badInput, notFound } from '../common/errors.js';
import { checkJsonDepth } from '../common/json.js';
import { fetchPage, isUuid, type Page, type PageArgs } from '../common/keyset.js';
import type { PublisherDb } from './db.js';

/** A datum as stored, with its JSON kept as PostgreSQL's text form. */
export interface StoredDatum {
  id: string;
  publisher: string;
  dataJson: string;
  createdAt: Date;
}

const dataJson = sql<string>`data::text`.as('dataJson');
const COLUMNS = ['id', 'publisher', dataJson, 'created_at as createdAt'] as const;

/**
 * Checks a parsed request body of the form `{"data": <any JSON value>}`. Only `data` is accepted:
 * the id, the publisher's name and the timestamp always come from the database.
 */
export function checkIngestBody(body: unknown): void {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badInput('The body must be a JSON object: {"data": <any JSON value>}');
  }
  if (!Object.hasOwn(body, 'data')) {
    throw badInput('Missing field "data": send {"data": <any JSON value>}');
  }
  const extra = Object.keys(body).filter((k) => k !== 'data');
  if (extra.length > 0) {
    throw badInput(
      `Unknown field(s) ${extra.map((k) => `"${k}"`).join(', ')}: only "data" is accepted; ` +
        'the id, publisher and createdAt are assigned by the server',
    );
  }
  checkJsonDepth((body as { data: unknown }).data, '"data"');
}

/**
 * Stores the `data` member of a request body (JSON text already checked by `checkIngestBody`).
 * One statement, so a failure stores nothing.
 */
export async function insertDatum(db: PublisherDb, bodyJson: string): Promise<StoredDatum> {
  return db
    .insertInto('data')
    .columns(['data'])
    .expression(sql`SELECT (${bodyJson}::jsonb) -> 'data'`)
    .returning(COLUMNS)
    .executeTakeFirstOrThrow();
}

export async function getDatum(db: PublisherDb, id: string): Promise<StoredDatum> {
  if (!isUuid(id)) throw badInput(`"${id}" is not a UUID`);
  const row = await db.selectFrom('data').select(COLUMNS).where('id', '=', id).executeTakeFirst();
  if (!row) throw notFound(`No datum with id ${id} on this publisher`);
  return row;
}

export async function listData(db: PublisherDb, page: PageArgs): Promise<Page<StoredDatum>> {
  return fetchPage(db.selectFrom('data').select(COLUMNS), page);
}

/** The JSON of one datum for a response, splicing in the stored JSON text unchanged. */
export function datumJson(d: StoredDatum): string {
  return `{"id":${JSON.stringify(d.id)},"publisher":${JSON.stringify(d.publisher)},"data":${d.dataJson},"createdAt":${JSON.stringify(d.createdAt.toISOString())}}`;
}
