/**
 * Keyset ("cursor") pagination over `(created_at, id)`, newest first. Shared by the publisher's
 * REST listing and the subscriber's GraphQL connection so both page the same way.
 *
 * The cursor keeps `created_at` as integer microseconds since the epoch: a JS Date has only
 * milliseconds, and rounding would skip or repeat rows that share a millisecond.
 */
import { type RawBuilder, type SelectQueryBuilder, sql } from 'kysely';
import { badInput } from './errors.js';

export interface Cursor {
  micros: string;
  id: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(`v1:${c.micros}:${c.id}`, 'utf8').toString('base64url');
}

export function decodeCursor(value: string): Cursor {
  const [version, micros, id, ...rest] = Buffer.from(value, 'base64url')
    .toString('utf8')
    .split(':');
  if (
    version !== 'v1' ||
    !micros ||
    !/^-?\d{1,20}$/.test(micros) ||
    !id ||
    !isUuid(id) ||
    rest.length
  ) {
    throw badInput(`Invalid cursor "${value}": pass an endCursor returned by an earlier page`);
  }
  return { micros, id };
}

/** The selection that yields a row's cursor key; alias it `cursor_micros`. */
export const cursorMicros: RawBuilder<string> = sql<string>`(extract(epoch from created_at) * 1000000)::bigint::text`;

/** `WHERE` condition for "rows after this cursor" in newest-first order. */
export function afterCursor(c: Cursor): RawBuilder<boolean> {
  return sql<boolean>`(created_at, id) < (timestamptz 'epoch' + ${c.micros}::bigint * interval '1 microsecond', ${c.id}::uuid)`;
}

export interface PageArgs {
  first: number;
  after?: Cursor;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;

export function pageArgs(
  first: number | undefined | null,
  after: string | undefined | null,
): PageArgs {
  const n = first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(n) || n < 0 || n > MAX_PAGE_SIZE) {
    throw badInput(`"first" must be an integer from 0 to ${MAX_PAGE_SIZE}, got ${first}`);
  }
  return { first: n, after: after ? decodeCursor(after) : undefined };
}

export interface Page<T> {
  rows: Array<T & { cursor: string }>;
  hasNextPage: boolean;
  endCursor: string | null;
}

/**
 * Turns `first + 1` fetched rows into a page: the extra row only tells whether there is a next one.
 */
export function toPage<T extends { id: string }>(
  fetched: Array<T & { cursor_micros: string }>,
  first: number,
  after?: Cursor,
): Page<T> {
  const rows = fetched.slice(0, first).map(({ cursor_micros, ...rest }) => ({
    ...(rest as unknown as T),
    cursor: encodeCursor({ micros: cursor_micros, id: rest.id }),
  }));
  return {
    rows,
    hasNextPage: fetched.length > first,
    // An empty page (first: 0, or the end) keeps the position it was asked from.
    endCursor: rows[rows.length - 1]?.cursor ?? (after ? encodeCursor(after) : null),
  };
}

/**
 * Runs `qb` (a select from a table with `created_at` and `id`) as one newest-first page: one
 * statement, fetching `first + 1` rows to learn whether a next page exists.
 */
export async function fetchPage<DB, TB extends keyof DB, O extends { id: string }>(
  qb: SelectQueryBuilder<DB, TB, O>,
  page: PageArgs,
): Promise<Page<O>> {
  let q = qb
    .select(cursorMicros.as('cursor_micros'))
    .orderBy(sql`created_at`, 'desc')
    .orderBy(sql`id`, 'desc')
    .limit(page.first + 1);
  if (page.after) q = q.where(afterCursor(page.after));
  // Kysely cannot see through the generic selection; the rows are O plus cursor_micros.
  const rows = (await q.execute()) as unknown as Array<O & { cursor_micros: string }>;
  return toPage(rows, page.first, page.after);
}
