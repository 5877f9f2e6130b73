/** Annotations: written by gateway users, keyed by a replicated datum's UUID. */
import { sql } from 'kysely';
import { notFound } from '../../common/errors.js';
import { checkJsonDepth, checkNumberText } from '../../common/json.js';
import { stringifyJson } from '../../common/raw-json.js';
import type { SubscriberDb } from '../db.js';

export interface AnnotationRow {
  id: string;
  dataId: string;
  body: unknown;
  author: string;
  createdAt: Date;
  updatedAt: Date;
}

/** `body`, or SQL NULL when it cannot be written out safely (see data.ts, servableData). */
const servableBody = sql<unknown>`case when collector_json_servable(body) then body end`.as('body');

const COLUMNS = [
  'id',
  'data_id as dataId',
  servableBody,
  'author',
  'created_at as createdAt',
  'updated_at as updatedAt',
] as const;

export async function annotate(
  db: SubscriberDb,
  input: { dataId: string; body: unknown; author: string },
): Promise<AnnotationRow> {
  checkJsonDepth(input.body, 'The annotation body');
  const body = stringifyJson(input.body);
  // The same rule as the publishers': numbers like 1e131071 are written out in full on reads.
  checkNumberText(body, 'The annotation body');
  // INSERT … SELECT … WHERE EXISTS answers "unknown datum" in the same statement; the foreign key
  // still guards the race, and its violation maps to NOT_FOUND as well.
  const row = await db
    .insertInto('annotation')
    .columns(['data_id', 'body', 'author'])
    .expression(
      sql`SELECT ${input.dataId}::uuid, ${body}::jsonb, ${input.author}
          WHERE EXISTS (SELECT 1 FROM data WHERE id = ${input.dataId}::uuid)`,
    )
    .returning(COLUMNS)
    .executeTakeFirst();
  if (!row) {
    throw notFound(
      `No datum with id ${input.dataId}. If it was just stored on a publisher, it may not have ` +
        'replicated yet: retry in a moment.',
    );
  }
  return row;
}

/** The annotations of many data rows in one statement, oldest first, grouped by data id. */
export async function annotationsByDataIds(
  db: SubscriberDb,
  dataIds: readonly string[],
): Promise<Map<string, AnnotationRow[]>> {
  const out = new Map<string, AnnotationRow[]>();
  if (dataIds.length === 0) return out;
  const rows = await db
    .selectFrom('annotation')
    .select(COLUMNS)
    .where('data_id', 'in', dataIds)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  for (const row of rows) {
    const list = out.get(row.dataId);
    if (list) list.push(row);
    else out.set(row.dataId, [row]);
  }
  return out;
}
