/**
 * Keyset pagination: the compiled SQL (every value a parameter), and real pages over rows that
 * share a millisecond or a whole timestamp.
 */
import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
} from 'kysely';
import { describe, expect, it } from 'vitest';
import { afterCursor, decodeCursor, encodeCursor, pageArgs } from '../common/keyset.js';
import { collector, http, uniqueTag, withClient } from './helpers.js';

const compiler = new Kysely<{ data: { id: string; created_at: Date } }>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

describe('cursors', () => {
  it('round-trip and carry microseconds', () => {
    const c = { micros: '4102444800000001', id: '0b0c2f9e-8f0e-4d38-9a55-4a3f5c1c0e11' };
    expect(decodeCursor(encodeCursor(c))).toEqual(c);
  });

  it.each([
    '',
    'garbage',
    Buffer.from('v1:12:not-a-uuid').toString('base64url'),
    Buffer.from('v1:1;drop table data:0b0c2f9e-8f0e-4d38-9a55-4a3f5c1c0e11').toString('base64url'),
  ])('rejects %j with BAD_USER_INPUT', (value) => {
    expect(() => pageArgs(10, value || 'x')).toThrow(/Invalid cursor/);
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
