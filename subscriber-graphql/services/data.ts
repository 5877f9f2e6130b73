/** Reads of the aggregated, replicated data. */
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

const COLUMNS = [
  'id',
  'publisher',
  'data',
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
