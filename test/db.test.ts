/** common/db.ts: the pool every service uses. */
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createKysely } from '../common/db.js';
import { collector } from './helpers.js';

describe('createKysely', () => {
  it('runs parameterised statements as named prepared statements, once parsed per connection', async () => {
    const db = createKysely(collector().subscriberAdminUrl, { max: 1, applicationName: 'db-test' });
    try {
      for (const n of [1, 2, 3]) {
        const { rows } = await sql<{ n: number }>`SELECT ${n}::int + 1 AS n`.execute(db);
        expect(rows[0]?.n).toBe(n + 1);
      }
      const { rows } = await sql<{ name: string; statement: string; calls: string }>`
        SELECT name, statement, generic_plans + custom_plans AS calls
        FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1::int + 1%'`.execute(db);
      expect(rows).toHaveLength(1);
      expect(rows[0]?.name).toMatch(/^collector_\d+$/);
      expect(Number(rows[0]?.calls)).toBe(3);
      // Without values, a text may hold several statements (as migrations do): not prepared.
      await sql`SELECT 1; SELECT 2`.execute(db);
    } finally {
      await db.destroy();
    }
  });
});
