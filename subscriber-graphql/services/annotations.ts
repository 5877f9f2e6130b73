/** Annotations: written by gateway users, keyed by a replicated datum's UUID. */
import { type ExpressionBuilder, sql } from 'kysely';
import { AppError, notFound } from '../../common/errors.js';
import { checkJsonDepth, checkNumberText } from '../../common/json.js';
import { stringifyJson } from '../../common/raw-json.js';
import type { Timestamp } from '../../common/timestamps.js';
import type { AuthUser } from '../auth.js';
import type { SubscriberDB, SubscriberDb } from '../db.js';
import { markNotServable } from '../graphql-errors.js';

export interface AnnotationRow {
  id: string;
  dataId: string;
  body: unknown;
  author: string;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

/** `body`, or SQL NULL when it cannot be written out safely (see data.ts, servableData). */
const servableBody = sql<unknown>`case when servable then body end`.as('body');

/** Rows as the gateway serves them: a refused `body` becomes that annotation's field error. */
export function guardBodies<T extends { id: string; body: unknown }>(rows: T[]): T[] {
  return markNotServable(rows, 'body', (r) => `The body of annotation ${r.id}`);
}

const COLUMNS = [
  'id',
  'data_id as dataId',
  servableBody,
  'author',
  'created_at as createdAt',
  'updated_at as updatedAt',
] as const;

/**
 * A body as JSON text for PostgreSQL: text, not a JS value, so that numbers keep every digit. The
 * same limits as the publishers' data: nesting depth, and numbers like 1e131071, which are tiny in
 * jsonb but written out in full on reads.
 */
function bodyText(body: unknown): string {
  checkJsonDepth(body, 'The annotation body');
  const text = stringifyJson(body);
  checkNumberText(text, 'The annotation body');
  return text;
}

export async function annotate(
  db: SubscriberDb,
  input: { dataId: string; body: unknown; authorId: string },
): Promise<AnnotationRow> {
  const body = bodyText(input.body);
  // INSERT … SELECT … WHERE EXISTS answers "unknown datum" in the same statement; the foreign key
  // still guards the race, and its violation maps to NOT_FOUND as well. The author is recorded by
  // id; a trigger fills in `author`, their username (sql/subscriber/021_user_sessions.sql).
  const row = await db
    .insertInto('annotation')
    .columns(['data_id', 'body', 'author_id'])
    .expression(
      sql`SELECT ${input.dataId}::uuid, ${body}::jsonb, ${input.authorId}::uuid
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
  return guardBodies([row])[0] as AnnotationRow;
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
  for (const row of guardBodies(rows)) {
    const list = out.get(row.dataId);
    if (list) list.push(row);
    else out.set(row.dataId, [row]);
  }
  return out;
}

/**
 * Who may change or delete an annotation: its author, by user id (a username deleted and created
 * again is someone else), or an admin.
 */
function mayEdit(editor: AuthUser) {
  return (eb: ExpressionBuilder<SubscriberDB, 'annotation'>) =>
    eb.or([eb('author_id', '=', editor.id), sql<boolean>`${editor.role === 'admin'}::boolean`]);
}

/**
 * After a change that matched no row: tell an unknown id from someone else's annotation. The
 * change itself already checked the permission in its own statement, so a concurrent edit or
 * delete can at worst turn FORBIDDEN into NOT_FOUND here, never let anything through.
 */
async function refusal(db: SubscriberDb, id: string, what: string): Promise<AppError> {
  const exists = await db
    .selectFrom('annotation')
    .select('id')
    .where('id', '=', id)
    .executeTakeFirst();
  if (!exists) return notFound(`No annotation with id ${id}`);
  return new AppError(
    'FORBIDDEN',
    `Only the author of annotation ${id} or an admin may ${what} it`,
  );
}

/** Replaces an annotation's body; for its author or an admin (FORBIDDEN otherwise). */
export async function updateAnnotation(
  db: SubscriberDb,
  input: { id: string; body: unknown; editor: AuthUser },
): Promise<AnnotationRow> {
  const body = bodyText(input.body);
  const row = await db
    .updateTable('annotation')
    .set({ body: sql`${body}::jsonb`, updated_at: sql`now()` })
    .where('id', '=', input.id)
    .where(mayEdit(input.editor))
    .returning(COLUMNS)
    .executeTakeFirst();
  if (!row) throw await refusal(db, input.id, 'change');
  return guardBodies([row])[0] as AnnotationRow;
}

/** Deletes an annotation; for its author or an admin (FORBIDDEN otherwise). Returns its datum's id. */
export async function deleteAnnotation(
  db: SubscriberDb,
  input: { id: string; editor: AuthUser },
): Promise<{ id: string; dataId: string }> {
  const row = await db
    .deleteFrom('annotation')
    .where('id', '=', input.id)
    .where(mayEdit(input.editor))
    .returning(['id', 'data_id as dataId'])
    .executeTakeFirst();
  if (!row) throw await refusal(db, input.id, 'delete');
  return row;
}
