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
import type { SubscriberDb } from '../db.js';

export interface DatumRow {
  id: string;
  publisher: string;
  data: unknown;
  createdAt: Date;
  receivedAt: Date;
}

/**
 * `data`, unless it cannot be written out as text safely (numbers like 1e131071, stored before the
 * publishers refused them: sql/subscriber/006_json_text_guard.sql): then SQL NULL, which the
 * `data` field answers with an error for that row alone. (A JSON null is the jsonb 'null'.)
 */
export const servableData = sql<unknown>`case when collector_json_servable(data) then data end`.as(
  'data',
);

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
  return db.selectFrom('data').select(COLUMNS).where('id', 'in', ids).execute();
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

/** A page in any order, forward (first/after) or backward (last/before), of the rows passing `filter`. */
export async function listDataOrdered(
  db: SubscriberDb,
  args: OrderedPageArgs,
  filter?: DataFilter | null,
  orderBy: DataOrderSpec[] = [],
): Promise<OrderedPage<DatumRow>> {
  const qb = db.selectFrom('data').select(COLUMNS);
  return fetchOrderedPage(
    filter ? qb.where(dataFilterSql(filter)) : qb,
    sortKeys(orderBy),
    pageFingerprint(orderBy, filter),
    args,
  );
}

/** How many rows pass `filter` (only when a client asks for totalCount). */
export async function countData(db: SubscriberDb, filter?: DataFilter | null): Promise<number> {
  const qb = db.selectFrom('data').select(sql<string>`count(*)`.as('n'));
  const row = await (filter ? qb.where(dataFilterSql(filter)) : qb).executeTakeFirstOrThrow();
  return Number(row.n);
}
