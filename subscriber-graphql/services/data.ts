/** Reads of the aggregated, replicated data. */

import { sql } from 'kysely';
import { badInput } from '../../common/errors.js';
import { type DataFilter, dataFilterSql } from '../../common/filter.js';
import {
  createdAtKey,
  fetchOrderedPage,
  idKey,
  type OrderedPage,
  type OrderedPageArgs,
  pageFingerprint,
  type SortKey,
} from '../../common/keyset.js';
import { RawJson, stringifyJson } from '../../common/raw-json.js';
import type { Timestamp } from '../../common/timestamps.js';
import type { SubscriberDb } from '../db.js';
import { markNotServable } from '../graphql-errors.js';
import { type AnnotationRow, guardBodies } from './annotations.js';

export interface DatumRow {
  id: string;
  publisher: string;
  data: unknown;
  createdAt: Timestamp;
  receivedAt: Timestamp;
  /** Set when the page's annotations were fetched with it (resolvers/data.resolver.ts). */
  annotations?: AnnotationRow[];
}

/**
 * `data`, unless it cannot be written out as text safely (numbers like 1e131071, stored before the
 * publishers refused them: sql/subscriber/006_json_text_guard.sql): then SQL NULL, which
 * `guard` turns into an error for that row alone. (A JSON null is the jsonb 'null'.) `servable`
 * is computed once per row when it is stored (sql/subscriber/020_servable_columns.sql).
 */
export const servableData = sql<unknown>`case when servable then data end`.as('data');

/** Rows as the gateway serves them: a refused `data` becomes that row's field error. */
function guard<T extends { id: string; data: unknown }>(rows: T[]): T[] {
  return markNotServable(rows, 'data', (r) => `The data of datum ${r.id}`);
}

const COLUMNS = [
  'id',
  'publisher',
  servableData,
  'created_at as createdAt',
  'received_at as receivedAt',
] as const;

/** Data by id, in one statement (for a batch loader). */
export async function dataByIds(db: SubscriberDb, ids: readonly string[]): Promise<DatumRow[]> {
  if (ids.length === 0) return [];
  return guard(await db.selectFrom('data').select(COLUMNS).where('id', 'in', ids).execute());
}

export interface DataOrderSpec {
  field?: 'CREATED_AT' | 'RECEIVED_AT' | 'PUBLISHER' | null;
  path?: string[] | null;
  direction: 'ASC' | 'DESC';
}

/** Sort keys of a JSON path: its type first (numbers, strings, others, missing), then its value. */
function jsonPathKeys(path: string[], desc: boolean): SortKey[] {
  const v = sql`(data #> ${path}::text[])`;
  const rank = sql`(case jsonb_typeof(${v}) when 'number' then 0 when 'string' then 1 when 'boolean' then 2 when 'null' then 3 when 'array' then 4 when 'object' then 5 else 6 end)`;
  const num = sql`coalesce(case when jsonb_typeof(${v}) = 'number' then ${v}::numeric end, 0)`;
  const txt = sql`coalesce(case when jsonb_typeof(${v}) = 'string' then ${v} #>> '{}' end, '')`;
  return [
    // Missing values last, in either direction.
    { expr: rank, text: sql<string>`${rank}::text`, type: 'int', desc: false },
    { expr: num, text: sql<string>`${num}::text`, type: 'numeric', desc },
    { expr: txt, text: txt as never, type: 'text', desc },
  ];
}

function sortKeys(orderBy: DataOrderSpec[]): SortKey[] {
  const keys: SortKey[] = [];
  for (const o of orderBy) {
    const desc = o.direction === 'DESC';
    const given = [o.field, o.path].filter((x) => x !== undefined && x !== null).length;
    if (given !== 1) throw badInput('Each orderBy entry takes either "field" or "path", not both');
    if (o.path) {
      if (o.path.length === 0) throw badInput('An orderBy path needs at least one key');
      keys.push(...jsonPathKeys(o.path, desc));
    } else if (o.field === 'CREATED_AT') keys.push(createdAtKey(desc));
    else if (o.field === 'RECEIVED_AT') keys.push(createdAtKey(desc, 'received_at'));
    else
      keys.push({ expr: sql.ref('publisher'), text: sql<string>`publisher`, type: 'text', desc });
  }
  if (keys.length === 0) keys.push(createdAtKey(true));
  // The id makes the order total.
  keys.push(idKey(orderBy[0]?.direction !== 'ASC'));
  return keys;
}

/**
 * Each row's annotations, oldest first, as one JSON array built by PostgreSQL in the page's own
 * statement (an index probe of annotation (data_id, created_at) per row). Bodies travel as JSON
 * strings holding their text, so that their numbers keep every digit; NULL where the read guard
 * refuses them, and for a row without annotations.
 */
const annotationsJson = sql<string | null>`(
  select json_agg(json_build_object(
      'id', a.id, 'dataId', a.data_id, 'body', case when a.servable then a.body::text end,
      'author', a.author, 'createdAt', a.created_at, 'updatedAt', a.updated_at)
    order by a.created_at, a.id)
  from annotation a where a.data_id = data.id)::text`.as('annotationsJson');

interface AnnotationJson {
  id: string;
  dataId: string;
  body: string | null;
  author: string;
  createdAt: string;
  updatedAt: string;
}

/** What a row without annotations holds: one array for all of them, never changed. */
const NO_ANNOTATIONS: AnnotationRow[] = Object.freeze([]) as unknown as AnnotationRow[];

/**
 * A row's annotationsJson as the rows services/annotations.ts reads: the parsed objects
 * themselves, with each body as its text (RawJson) and timestamps as PostgreSQL wrote them (the
 * DateTime scalar writes those it serves as ISO text).
 */
function annotationRows(json: string | null): AnnotationRow[] {
  if (json === null) return NO_ANNOTATIONS;
  const rows = JSON.parse(json) as AnnotationJson[];
  for (const a of rows) {
    if (a.body !== null) (a as { body: unknown }).body = new RawJson(a.body);
  }
  return guardBodies(rows as unknown as AnnotationRow[]);
}

/** Sort keys and cursor fingerprint of each order seen without a filter, by its JSON text. */
const orders = new Map<string, { text: string; keys: SortKey[]; fingerprint: string }>();

function unfiltered(orderBy: DataOrderSpec[]) {
  const text = stringifyJson(orderBy);
  let order = orders.get(text);
  if (!order) {
    order = { text, keys: sortKeys(orderBy), fingerprint: pageFingerprint(orderBy, null) };
    // Orders come from clients: remember a bounded number.
    if (orders.size < 200) orders.set(text, order);
  }
  return order;
}

/**
 * A page in any order, forward (first/after) or backward (last/before), of the rows passing
 * `filter`; with `annotations`, each row's annotations come in the same statement.
 */
export async function listDataOrdered(
  db: SubscriberDb,
  args: OrderedPageArgs,
  filter?: DataFilter | null,
  orderBy: DataOrderSpec[] = [],
  options: { annotations?: boolean } = {},
): Promise<OrderedPage<DatumRow>> {
  const query = () => {
    const columns = db.selectFrom('data').select(COLUMNS);
    const qb = options.annotations ? columns.select(annotationsJson) : columns;
    return filter ? qb.where(dataFilterSql(filter)) : qb;
  };
  // Without a filter, a page's statement depends only on the order and the annotations: its keys,
  // fingerprint and compiled SQL are made once per order (a filter's values would make every
  // statement a new shape).
  const order = filter ? null : unfiltered(orderBy);
  const page = await fetchOrderedPage(
    query,
    order?.keys ?? sortKeys(orderBy),
    order?.fingerprint ?? pageFingerprint(orderBy, filter),
    args,
    order
      ? { db: db as never, shape: `data ${options.annotations ?? false} ${order.text}` }
      : undefined,
  );
  guard(page.rows);
  if (options.annotations) {
    for (const row of page.rows as Array<DatumRow & { annotationsJson?: string | null }>) {
      row.annotations = annotationRows(row.annotationsJson ?? null);
      row.annotationsJson = undefined;
    }
  }
  return page;
}

/** How many rows pass `filter` (only when a client asks for totalCount). */
export async function countData(db: SubscriberDb, filter?: DataFilter | null): Promise<number> {
  const qb = db.selectFrom('data').select(sql<string>`count(*)`.as('n'));
  const row = await (filter ? qb.where(dataFilterSql(filter)) : qb).executeTakeFirstOrThrow();
  return Number(row.n);
}
