/** Pages of annotations across all data: filtered, ordered, keyset both ways. */
import { sql } from 'kysely';
import { type AnnotationFilter, annotationFilterSql } from '../../common/filter.js';
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
import { type AnnotationRow, guardBodies } from './annotations.js';

export interface AnnotationOrderSpec {
  field: 'CREATED_AT' | 'UPDATED_AT';
  direction: 'ASC' | 'DESC';
}

/** Like services/annotations.ts's columns, on the alias `a` that annotation filters use. */
const COLUMNS = [
  'a.id',
  'a.data_id as dataId',
  sql<unknown>`case when a.servable then a.body end`.as('body'),
  'a.author',
  'a.created_at as createdAt',
  'a.updated_at as updatedAt',
] as const;

function sortKeys(orderBy: AnnotationOrderSpec[]): SortKey[] {
  const keys = orderBy.map((o) =>
    createdAtKey(
      o.direction === 'DESC',
      o.field === 'UPDATED_AT' ? 'a.updated_at' : 'a.created_at',
    ),
  );
  if (keys.length === 0) keys.push(createdAtKey(true, 'a.created_at'));
  keys.push(idKey(orderBy[0]?.direction !== 'ASC', 'a.id'));
  return keys;
}

export async function listAnnotations(
  db: SubscriberDb,
  args: OrderedPageArgs,
  filter?: AnnotationFilter | null,
  orderBy: AnnotationOrderSpec[] = [],
): Promise<OrderedPage<AnnotationRow>> {
  const qb = db.selectFrom('annotation as a').select(COLUMNS);
  const page = (await fetchOrderedPage(
    filter ? qb.where(annotationFilterSql(filter)) : qb,
    sortKeys(orderBy),
    pageFingerprint(orderBy, filter),
    args,
  )) as OrderedPage<AnnotationRow>;
  guardBodies(page.rows);
  return page;
}

export async function countAnnotations(
  db: SubscriberDb,
  filter?: AnnotationFilter | null,
): Promise<number> {
  const qb = db.selectFrom('annotation as a').select(sql<string>`count(*)`.as('n'));
  const row = await (filter ? qb.where(annotationFilterSql(filter)) : qb).executeTakeFirstOrThrow();
  return Number(row.n);
}
