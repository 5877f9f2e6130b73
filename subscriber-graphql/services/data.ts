/** Reads of the aggregated, replicated data. */
import { sql } from 'kysely';
import { type DataFilter, dataFilterSql } from '../../common/filter.js';
import { fetchPage, type Page, type PageArgs } from '../../common/keyset.js';
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

/** Newest first, by `(created_at, id)`, the rows that pass `filter`. */
export async function listData(
  db: SubscriberDb,
  page: PageArgs,
  filter?: DataFilter | null,
): Promise<Page<DatumRow>> {
  const qb = db.selectFrom('data').select(COLUMNS);
  return fetchPage(filter ? qb.where(dataFilterSql(filter)) : qb, page);
}

/** Data by id, in one statement (for a batch loader). */
export async function dataByIds(db: SubscriberDb, ids: readonly string[]): Promise<DatumRow[]> {
  if (ids.length === 0) return [];
  return db.selectFrom('data').select(COLUMNS).where('id', 'in', ids).execute();
}
