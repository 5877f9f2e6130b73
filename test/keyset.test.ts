/**
 * Keyset pagination: the compiled SQL (every value a parameter), and real pages over rows that
 * share a millisecond or a whole timestamp.
 */
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createKysely } from '../common/db.js';
import { afterCursor, decodeCursor, encodeCursor, fetchPage, pageArgs } from '../common/keyset.js';
import {
  adminToken,
  collector,
  gql,
  http,
  postDatum,
  sqlCompiler,
  uniqueTag,
  waitFor,
  withClient,
} from './helpers.js';

const compiler = sqlCompiler<{ data: { id: string; created_at: Date } }>();

describe('cursors', () => {
  it('round-trip and carry microseconds', () => {
    const c = { micros: '4102444800000001', id: '0b0c2f9e-8f0e-4d38-9a55-4a3f5c1c0e11' };
    expect(decodeCursor(encodeCursor(c))).toEqual(c);
  });

  it.each([
    'x',
    'garbage',
    Buffer.from('v1:12:not-a-uuid').toString('base64url'),
    Buffer.from('v1:1;drop table data:0b0c2f9e-8f0e-4d38-9a55-4a3f5c1c0e11').toString('base64url'),
  ])('rejects %j with BAD_USER_INPUT', (value) => {
    expect(() => pageArgs(10, value)).toThrow(/Invalid cursor/);
  });

  it('treats an empty cursor ("") like no cursor', () => {
    expect(pageArgs(10, '')).toEqual({ first: 10, after: undefined });
    expect(pageArgs(10, null)).toEqual({ first: 10, after: undefined });
  });

  it('compiles "after" to a row comparison with parameters only', () => {
    const cursor = { micros: '4102444800000001', id: '0b0c2f9e-8f0e-4d38-9a55-4a3f5c1c0e11' };
    const q = compiler.selectFrom('data').select('id').where(afterCursor(cursor)).compile();
    expect(q.sql).toBe(
      `select "id" from "data" where (created_at, id) < (timestamptz 'epoch' + $1::bigint * interval '1 microsecond', $2::uuid)`,
    );
    expect(q.parameters).toEqual([cursor.micros, cursor.id]);
  });
});

describe('pages over equal and sub-millisecond timestamps', () => {
  it('returns every row once, newest first, ties broken by id', async () => {
    const pub = collector().publishers[1] as { url: string; adminUrl: string };
    const tag = uniqueTag('ks');
    // Far in the future, so these are the first rows of the listing. The superuser may set
    // created_at; the API cannot.
    const stamps = [
      '2100-01-01 00:00:00.000001+00',
      '2100-01-01 00:00:00.000002+00',
      '2100-01-01 00:00:00.0005+00',
      '2100-01-01 00:00:00.0005+00',
      '2100-01-01 00:00:00.0009+00',
    ];
    const inserted = await withClient(pub.adminUrl, async (c) => {
      const out: Array<{ id: string; t: string }> = [];
      for (const [i, t] of stamps.entries()) {
        const { rows } = await c.query(
          'INSERT INTO data (data, created_at) VALUES ($1, $2) RETURNING id',
          [JSON.stringify({ tag, i }), t],
        );
        out.push({ id: rows[0].id, t });
      }
      return out;
    });
    const expected = [...inserted]
      .sort((a, b) => (a.t === b.t ? (a.id < b.id ? 1 : -1) : a.t < b.t ? 1 : -1))
      .map((r) => r.id);

    const seen: string[] = [];
    let after: string | null = null;
    for (let n = 0; n < 6; n++) {
      const res: {
        body: {
          items: Array<{ id: string; data: { tag?: string } }>;
          pageInfo: { endCursor: string | null };
        };
      } = await http(`${pub.url}/data?first=1${after ? `&after=${after}` : ''}`);
      for (const item of res.body.items) if (item.data?.tag === tag) seen.push(item.id);
      after = res.body.pageInfo.endCursor;
    }
    expect(seen).toEqual(expected);
  });
});

describe('an empty cursor over HTTP', () => {
  it('GET /data?after= is the first page, not an error', async () => {
    const pub = collector().publishers[0] as { url: string };
    const res = await http<{ items: unknown[]; pageInfo: { endCursor: string | null } }>(
      `${pub.url}/data?first=0&after=`,
    );
    expect(res.status).toBe(200);
    // Like no cursor at all: an empty first page has no position to keep.
    expect(res.body).toEqual({
      items: [],
      pageInfo: { hasNextPage: expect.any(Boolean), endCursor: null },
    });
  });

  it('GraphQL data(after: "") is the first page, not an error', async () => {
    const res = await gql<{ data: { nodes: unknown[]; pageInfo: { endCursor: string | null } } }>(
      '{ data(first: 0, after: "") { nodes { id } pageInfo { endCursor } } }',
      {},
      await adminToken(),
    );
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data?.data).toEqual({ nodes: [], pageInfo: { endCursor: null } });
  });
});

describe('hasNextPage', () => {
  interface Probe {
    probe: { id: string; created_at: Date; n: number };
  }

  it('is false when exactly `first` rows remain and true when one more does (fetchPage, real table)', async () => {
    // One connection, so the temporary table is visible to every query (and dropped with it).
    const db = createKysely<Probe>(collector().subscriberAdminUrl, {
      applicationName: 'test-keyset',
      max: 1,
    });
    try {
      await sql`CREATE TEMP TABLE probe (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                created_at timestamptz NOT NULL, n int NOT NULL)`.execute(db);
      // Five rows, two of them sharing a timestamp.
      await sql`INSERT INTO probe (created_at, n) VALUES
                ('2030-01-01 00:00:01+00', 1), ('2030-01-01 00:00:02+00', 2),
                ('2030-01-01 00:00:02+00', 3), ('2030-01-01 00:00:03+00', 4),
                ('2030-01-01 00:00:04+00', 5)`.execute(db);
      const page = (first: number, after?: string) =>
        fetchPage(db.selectFrom('probe').select(['id', 'n']), pageArgs(first, after));

      const all = await page(5);
      expect(all.rows).toHaveLength(5);
      expect(all.hasNextPage).toBe(false);
      const short = await page(4);
      expect(short.rows).toHaveLength(4);
      expect(short.hasNextPage).toBe(true);
      expect((await page(6)).hasNextPage).toBe(false);

      // From a cursor: exactly 3 rows remain after the second one.
      const two = await page(2);
      expect(two.hasNextPage).toBe(true);
      const rest = await page(3, two.endCursor as string);
      expect(rest.rows.map((r) => r.n)).toEqual(all.rows.slice(2).map((r) => r.n));
      expect(rest.hasNextPage).toBe(false);
      const almost = await page(2, two.endCursor as string);
      expect(almost.rows).toHaveLength(2);
      expect(almost.hasNextPage).toBe(true);
      const last = await page(1, almost.endCursor as string);
      expect(last.rows).toHaveLength(1);
      expect(last.hasNextPage).toBe(false);
    } finally {
      await db.destroy();
    }
  });

  it('GET /data: the oldest rows of a publisher end the listing exactly', async () => {
    const pub = collector().publishers[0] as { url: string; adminUrl: string };
    // At least four rows, old enough that no insert still in flight can sort before them.
    for (let i = 0; i < 4; i++) await postDatum(pub.url, { tag: uniqueTag('tail'), i });
    const oldest = await waitFor('four rows older than a second', () =>
      withClient(pub.adminUrl, async (c) => {
        const { rows } = await c.query<{ id: string; micros: string }>(
          `SELECT id, (extract(epoch from created_at) * 1000000)::bigint::text AS micros
             FROM data WHERE created_at < now() - interval '1 second'
            ORDER BY created_at, id LIMIT 4`,
        );
        return rows.length === 4 ? rows : undefined;
      }),
    );
    // After the fourth-oldest row, exactly three rows remain: the three oldest, newest first.
    const fourth = oldest[3] as { id: string; micros: string };
    const after = encodeCursor({ micros: fourth.micros, id: fourth.id });
    const expected = oldest
      .slice(0, 3)
      .map((r) => r.id)
      .reverse();
    const list = (first: number) =>
      http<{ items: Array<{ id: string }>; pageInfo: { hasNextPage: boolean } }>(
        `${pub.url}/data?first=${first}&after=${after}`,
      );
    const exact = await list(3);
    expect(exact.body.items.map((i) => i.id)).toEqual(expected);
    expect(exact.body.pageInfo.hasNextPage).toBe(false);
    const fewer = await list(2);
    expect(fewer.body.items.map((i) => i.id)).toEqual(expected.slice(0, 2));
    expect(fewer.body.pageInfo.hasNextPage).toBe(true);
    const more = await list(4);
    expect(more.body.items.map((i) => i.id)).toEqual(expected);
    expect(more.body.pageInfo.hasNextPage).toBe(false);
  });
});
