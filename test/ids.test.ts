/**
 * Publisher ids are PostgreSQL 18's uuidv7() (sql/publisher/011_uuidv7_ids.sql): version 7, their
 * timestamp the row's time, and ids stored one after another sort in the order they were stored
 * (uuidv7() is monotonic within a session, and across sessions to the millisecond).
 */
import { describe, expect, it } from 'vitest';
import { collector, postDatum, uniqueTag, withClient } from './helpers.js';

describe('publisher ids', () => {
  it('are version 7 UUIDs carrying the time the row was stored', async () => {
    const pub = collector().publishers[0] as { url: string; adminUrl: string };
    const res = await postDatum(pub.url, { tag: uniqueTag('ids') });
    expect(res.status).toBe(201);
    const { id, createdAt } = res.body;
    // The version is the first hex digit of the third group; the variant (10xx) the fourth's.
    expect(id[14]).toBe('7');
    expect('89ab').toContain(id[19]);
    const row = await withClient(pub.adminUrl, async (db) => {
      const { rows } = await db.query<{ version: number; ms: number }>(
        `SELECT uuid_extract_version(id) AS version,
                extract(epoch FROM uuid_extract_timestamp(id) - created_at)::float8 * 1000 AS ms
           FROM data WHERE id = $1`,
        [id],
      );
      return rows[0];
    });
    expect(row?.version).toBe(7);
    // created_at is the transaction's start, the id's time a moment later (the same statement).
    expect(Math.abs(row?.ms ?? Number.NaN)).toBeLessThan(1000);
    expect(createdAt).toBeTruthy();
  });

  it('sort in the order the rows were stored', async () => {
    const pub = collector().publishers[0] as { url: string };
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await postDatum(pub.url, { tag: uniqueTag('ids-order'), i });
      expect(res.status).toBe(201);
      ids.push(res.body.id);
    }
    // uuid ordering in PostgreSQL is bytewise, which for lower-case hex text is string order.
    expect([...ids].sort()).toEqual(ids);
  });
});
