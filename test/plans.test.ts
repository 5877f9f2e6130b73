/**
 * The filters and orders compile to SQL that the indexes serve: EXPLAIN on the real subscriber,
 * with sequential scans priced out (the test table is small, so the planner would rightly prefer
 * them; what is checked is that the SQL's shape lets an index answer it).
 */
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { type DataFilter, dataFilterSql } from '../common/filter.js';
import { collector, sqlCompiler, withClient } from './helpers.js';

const compiler = sqlCompiler<{ data: { id: string } }>();

async function plan(filter: DataFilter, order?: string): Promise<string> {
  let q = compiler.selectFrom('data').select('id').where(dataFilterSql(filter)).limit(50);
  if (order) q = q.orderBy(sql.raw(order));
  const { sql: text, parameters } = q.compile();
  return withClient(collector().subscriberAdminUrl, async (c) => {
    await c.query('BEGIN');
    try {
      await c.query('SET LOCAL enable_seqscan = off');
      const { rows } = await c.query(`EXPLAIN (FORMAT JSON) ${text}`, parameters as unknown[]);
      return JSON.stringify(rows[0]);
    } finally {
      await c.query('ROLLBACK');
    }
  });
}

describe('index use', () => {
  it.each<[string, DataFilter, string]>([
    ['contains', { data: { contains: { status: 'paid' } } }, 'data_data_gin_idx'],
    ['hasKey', { data: { hasKey: 'status' } }, 'data_data_gin_idx'],
    ['hasAnyKeys', { data: { hasAnyKeys: ['a', 'b'] } }, 'data_data_gin_idx'],
    ['a jsonpath predicate', { data: { matches: '$.amount > 100' } }, 'data_data_gin_idx'],
    [
      'a path equality on keys',
      { data: { path: [{ path: ['customer', 'city'], eq: 'Oslo' }] } },
      'data_data_gin_idx',
    ],
    ['publisher', { publisher: { eq: 'pub1' } }, 'data_publisher'],
    [
      'createdAt range',
      { createdAt: { gte: new Date('2026-01-01T00:00:00Z') } },
      'data_created_at_id_idx',
    ],
  ])('%s', async (_name, filter, index) => {
    expect(await plan(filter)).toContain(index);
  });

  it('data has no index that another one covers (each costs the apply worker a B-tree insertion per row)', async () => {
    const { rows } = await withClient(collector().subscriberAdminUrl, (c) =>
      c.query<{ name: string }>(
        `SELECT indexrelid::regclass::text AS name FROM pg_index
          WHERE indrelid = 'data'::regclass ORDER BY 1`,
      ),
    );
    expect(rows.map((r) => r.name)).toEqual([
      'data_created_at_id_idx',
      'data_data_gin_idx',
      'data_pkey',
      'data_publisher_id_idx',
      'data_received_at_id_idx',
    ]);
  });

  it.each([
    ['received_at desc, id desc', 'data_received_at_id_idx'],
    ['publisher asc, id asc', 'data_publisher_id_idx'],
    ['created_at desc, id desc', 'data_created_at_id_idx'],
  ])('order by %s walks %s', async (order, index) => {
    const text = await plan({}, order);
    expect(text).toContain(index);
    expect(text).not.toContain('"Node Type":"Sort"');
  });
});
