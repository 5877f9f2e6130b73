/**
 * The multi-row INSERT of publisher-api/ingest.ts (`insertMany`), against publisher 1's real
 * database: its texts travel joined by U+001E (one text parameter, split by string_to_table), so
 * each text must come back as its own row, in order, whatever it holds; and a text that is not
 * one JSON document (a separator inside it, or nothing at all) must never be split into several
 * rows, nor vanish.
 */
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toAppError } from '../common/errors.js';
import { InsertConnections, type PublisherDB } from '../publisher-api/db.js';
import { insertMany } from '../publisher-api/ingest.js';
import { collector, uniqueTag, withClient } from './helpers.js';

const pub = () => collector().publishers[0] as { adminUrl: string; apiDatabaseUrl: string };

let db: Kysely<PublisherDB>;
let conns: InsertConnections;

beforeAll(() => {
  db = new Kysely<PublisherDB>({
    dialect: new PostgresDialect({
      pool: new pg.Pool({ connectionString: pub().apiDatabaseUrl, max: 2 }),
    }),
  });
  conns = new InsertConnections(pub().apiDatabaseUrl, {
    applicationName: 'test-insert-statement',
    size: 1,
  });
});

afterAll(async () => {
  await conns?.close();
  await db?.destroy();
});

/** Rows whose stored text contains `marker`. */
const storedCount = (marker: string) =>
  withClient(pub().adminUrl, async (c) => {
    const { rows } = await c.query<{ n: string }>(
      'SELECT count(*) AS n FROM data WHERE data::text LIKE $1',
      [`%${marker}%`],
    );
    return Number(rows[0]?.n);
  });

/** What PostgreSQL makes of one body on its own: the reference for each stored row. */
const asJsonb = (body: string) =>
  withClient(pub().adminUrl, async (c) => {
    const { rows } = await c.query<{ t: string }>(`SELECT (($1::jsonb) -> 'data')::text AS t`, [
      body,
    ]);
    return rows[0]?.t;
  });

const targets = [
  { name: "the group commit's connections", make: () => conns },
  { name: 'a Kysely pool (batch ingest)', make: () => db },
];

describe.each(targets)('insertMany on $name', ({ make }) => {
  it('stores each text as its own row, in order, with what an array would have needed escaped', async () => {
    const marker = uniqueTag('escapes');
    // Quotes, backslashes, commas, braces, NULL-looking text, escaped control characters (U+001E
    // among them), non-ASCII, and digits beyond double precision.
    const bodies = [
      `{"data": {"m": "${marker}", "q": "say \\"hi\\", {ok}", "b": "C:\\\\dir\\\\", "i": 0}}`,
      `{"data": {"m": "${marker}", "s": "NULL", "e": "", "i": 1}}`,
      `{"data": {"m": "${marker}", "rs": "a\\u001eb", "nl": "x\\ny\\t", "i": 2}}`,
      `{"data": {"m": "${marker}", "u": "Zürich ✓ 𝄞", "i": 3}}`,
      `{"data": {"m": "${marker}", "n": 12345678901234567890.000000000000000001, "i": 4}}`,
      `{"data": ["${marker}", 5, null, true]}`,
      `{"data":"${marker}"}`,
    ];
    const rows = await insertMany(make(), bodies);
    expect(rows).toHaveLength(bodies.length);
    for (const [i, body] of bodies.entries()) {
      expect(rows[i]?.dataJson).toBe(await asJsonb(body));
    }
    expect(rows[4]?.dataJson).toContain('12345678901234567890.000000000000000001');
    expect(await storedCount(marker)).toBe(bodies.length);
  });

  it('a text holding a raw U+001E is one (refused) document: never split into two rows', async () => {
    const marker = uniqueTag('split');
    // Two valid documents around the separator: split, they would be two rows, committed, for
    // one request that then fails.
    const body = `{"data": "${marker}-1"}\u001e{"data": "${marker}-2"}`;
    const e = await insertMany(make(), [body]).catch((err: unknown) => err);
    expect(toAppError(e)?.code).toBe('BAD_USER_INPUT');
    expect(await storedCount(marker)).toBe(0);
  });

  it('an empty text is refused as JSON, not lost', async () => {
    const e = await insertMany(make(), ['']).catch((err: unknown) => err);
    expect(toAppError(e)?.code).toBe('BAD_USER_INPUT');
  });

  it('without the stored JSON (POST /data/batch), each id, publisher and time as stored, in input order', async () => {
    const marker = uniqueTag('ids');
    const bodies = Array.from({ length: 7 }, (_, i) => JSON.stringify({ data: { m: marker, i } }));
    const rows = await insertMany(make(), bodies, { withData: false });
    expect(rows).toHaveLength(7);
    const stored = await withClient(pub().adminUrl, async (c) => {
      const { rows: found } = await c.query<{ id: string; i: number; publisher: string; t: Date }>(
        `SELECT id, (data->>'i')::int AS i, publisher, created_at AS t FROM data WHERE data->>'m' = $1`,
        [marker],
      );
      return found;
    });
    expect(stored).toHaveLength(7);
    for (const [i, row] of rows.entries()) {
      const match = stored.find((s) => s.id === row.id);
      expect(match?.i).toBe(i);
      expect(row.publisher).toBe(match?.publisher);
      expect(row.createdAt.toISOString()).toBe(match?.t.toISOString());
      expect(row).not.toHaveProperty('dataJson');
    }
  });
});

describe('the batch statement answers in one row', () => {
  it.each([
    { what: 'time', column: 'created_at', value: 'clock_timestamp()' },
    { what: 'publisher', column: 'publisher', value: 'md5(random()::text)' },
  ])(
    'fails loudly if the rows of one statement no longer share their $what',
    async ({ column, value }) => {
      const marker = uniqueTag(column);
      const admin = new Kysely<PublisherDB>({
        dialect: new PostgresDialect({
          pool: new pg.Pool({ connectionString: pub().adminUrl, max: 1 }),
        }),
      });
      try {
        // In a transaction that is always rolled back: the table is changed for this statement only
        // (other test files insert into it meanwhile; they wait for the lock a few milliseconds).
        // Outside a transaction the rows would be stored before the check refuses the answer.
        const e = await admin
          .transaction()
          .execute(async (trx) => {
            await sql`ALTER TABLE data ALTER COLUMN ${sql.id(column)} SET DEFAULT ${sql.raw(value)}`.execute(
              trx,
            );
            // Enough rows that clock_timestamp() moves on between the first and the last.
            const bodies = Array.from({ length: 500 }, (_, i) => `{"data": "${marker}-${i}"}`);
            await insertMany(trx, bodies, { withData: false });
            throw new Error('stored: rolled back');
          })
          .catch((err: unknown) => err);
        expect((e as Error).message).toMatch(/different publishers or times/);
        expect(await storedCount(marker)).toBe(0);
      } finally {
        await admin.destroy();
      }
    },
  );
});

/** The group commit's connections, answering one row fewer than PostgreSQL did. */
class OneRowShort extends InsertConnections {
  override async query<R extends object>(name: string, text: string, values: unknown[]) {
    const rows = await super.query<R>(name, text, values);
    const first = rows[0] as { ids?: string } | undefined;
    if (rows.length === 1 && typeof first?.ids === 'string') {
      return [{ ...first, ids: first.ids.split(',').slice(1).join(',') }] as R[];
    }
    return rows.slice(1);
  }
}

describe('an answer with fewer rows than texts sent', () => {
  it.each([true, false])('is an error, never a short answer (withData: %s)', async (withData) => {
    const short = new OneRowShort(pub().apiDatabaseUrl, {
      applicationName: 'test-one-row-short',
      size: 1,
    });
    try {
      const marker = uniqueTag('short');
      const bodies = Array.from({ length: 3 }, (_, i) => `{"data": "${marker}-${i}"}`);
      await expect(insertMany(short, bodies, { withData })).rejects.toThrow(
        'INSERT of 3 rows returned 2',
      );
    } finally {
      await short.close();
    }
  });
});
