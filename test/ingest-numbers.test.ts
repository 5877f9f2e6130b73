/**
 * Poison numbers: jsonb stores 1e131071 in a few bytes, but its text output writes all 131,072
 * digits. The publisher refuses values whose numbers would take more than 4 MiB written out
 * (the rule in common/json.ts), and never reads a stored row as text where the same rule in SQL
 * (collector_json_servable) says no.
 *
 * The HTTP tests run against a scratch database on the first publisher's cluster, set up with the
 * publisher migrations and subscribed by nobody: a poison row there never reaches the subscriber
 * (whose gateway would read it), nor the shared data table that other tests scan as text.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKysely } from '../common/db.js';
import { AppError } from '../common/errors.js';
import { checkNumberText, MAX_NUMBER_TEXT_BYTES, numberTextSize } from '../common/json.js';
import { migrate } from '../common/migrate.js';
import { projectRoot } from '../common/paths.js';
import type { RunningService } from '../common/service.js';
import { startPublisherApi } from '../publisher-api/start.js';
import { collector, http, waitFor, withClient } from './helpers.js';

const pub = () =>
  collector().publishers[0] as { url: string; adminUrl: string; apiDatabaseUrl: string };

const array = (n: number, item: string) => `[${Array(n).fill(item).join(', ')}]`;
/** The brief's poison: 4,200 numbers of 131,072 digits each in a 38 KB body. */
const POISON = `{"data": ${array(4200, '1e131071')}}`;

/** The bytes the JS rule counts for one JSON number literal. */
const counted = (literal: string) => numberTextSize(literal).bytes;

describe('numberTextSize: the written-out length of big and tiny numbers', () => {
  it.each([
    ['1e131071', 131_072],
    ['1E+20', 21],
    ['-1e19', 21],
    ['1e19', 20],
    ['9999999999999999999', 0],
    ['12345678901234567890', 20],
    ['12345678901234567890.50', 23],
    ['1.50e25', 26],
    ['-99999999999999999999.9e5', 26],
    ['1e-20', 22],
    ['1e-19', 0],
    ['-1.5e-25', 29],
    ['1e-16383', 16_385],
    // Zero keeps its decimals too: 0e-30 is "0." and 30 zeros, and never has a sign.
    ['0e-30', 32],
    ['-0.0e-30', 33],
    ['0e-19', 0],
    ['0e99999', 0],
    ['1.5e3', 0],
    ['0.00001', 0],
  ])('%s takes %i bytes that count', (literal, bytes) => {
    expect(counted(literal)).toBe(bytes);
  });

  it('is not fooled by digits in strings, keys or escapes', () => {
    expect(counted('"1e131071"')).toBe(0);
    expect(counted('{"1e300": ["1e300", "\\"1e300\\"", "\\\\"]}')).toBe(0);
    // An escaped quote, then an escaped backslash right before a closing quote, then a number.
    expect(counted('{"a\\"1e99": "x\\\\", "b": 1e20, "c": "\\u00221e30"}')).toBe(21);
    expect(counted(POISON)).toBe(4200 * 131_072);
  });

  it('names the largest number in its refusal', () => {
    const size = numberTextSize('[1e25, -1e131071, 1e20]');
    expect(size).toEqual({ bytes: 26 + 131_073 + 21, largest: '-1e131071', largestBytes: 131_073 });
  });

  it('allows exactly 4 MiB, and refuses a byte more', () => {
    expect(MAX_NUMBER_TEXT_BYTES).toBe(4 * 1024 * 1024);
    // 32 numbers of 131,072 digits are exactly 4 MiB.
    const atLimit = `{"data": ${array(32, '1e131071')}}`;
    expect(counted(atLimit)).toBe(MAX_NUMBER_TEXT_BYTES);
    expect(() => checkNumberText(atLimit, '"data"')).not.toThrow();
    const over = `{"data": [${Array(32).fill('1e131071').join(', ')}, 1e19]}`;
    expect(() => checkNumberText(over, '"data"')).toThrow(AppError);
  });

  it('stays linear on adversarial text (backslash runs, many quotes, deep nesting)', () => {
    const mb = 1024 * 1024;
    const cases = [
      `["${'\\\\'.repeat(mb / 2)}"]`,
      `[${'"\\"",'.repeat(mb / 5)}1]`,
      `["${'\\"'.repeat(mb / 2)}"]`,
      `${'['.repeat(mb)}1e20${']'.repeat(mb)}`,
      `[${'-'.repeat(mb)}]`,
      `[${'9'.repeat(mb)}]`,
    ];
    for (const text of cases) {
      const began = performance.now();
      numberTextSize(text);
      // Linear is a few milliseconds here; quadratic would be minutes.
      expect(performance.now() - began).toBeLessThan(1000);
    }
    expect(counted(cases[3] as string)).toBe(21);
    expect(counted(cases[5] as string)).toBe(mb);
  });
});

describe('collector_json_servable: the same rule in SQL, without writing numbers out', () => {
  it('is the same file on the publisher and on the subscriber', () => {
    const read = (kind: string) =>
      readFileSync(path.join(projectRoot(), 'sql', kind, '006_json_text_guard.sql'), 'utf8');
    expect(read('subscriber')).toBe(read('publisher'));
  });

  it('counts what the JS rule counts, which is what PostgreSQL writes out', async () => {
    const mantissas = ['1', '9.99', '10.0', '0.00123', '999999999999999999999', '1.000', '0'];
    const exponents = [-40, -21, -20, -19, -18, 0, 17, 18, 19, 20, 280, 299, 300, 301];
    const literals: string[] = [];
    for (const mantissa of mantissas) {
      for (const exponent of exponents) {
        literals.push(`${mantissa}e${exponent}`, `-${mantissa}e${exponent}`);
      }
    }
    literals.push('9999999999999999999999.999999', '9.9999999999999999999999e131071', '1e-16383');
    await withClient(pub().adminUrl, async (c) => {
      const { rows } = await c.query<{ literal: string; fn: string; actual: number }>(
        `SELECT literal, collector_json_number_text_bytes(literal::jsonb) AS fn,
                octet_length((literal::jsonb)::text) AS actual
           FROM unnest($1::text[]) AS literal`,
        [literals],
      );
      for (const { literal, fn, actual } of rows) {
        const js = counted(literal);
        expect({ literal, sql: Number(fn) }).toEqual({ literal, sql: js });
        // Where a number counts, the count is its real written-out length.
        if (js > 0) expect({ literal, actual }).toEqual({ literal, actual: js });
        else expect(actual).toBeLessThanOrEqual(literal.length + 21);
      }
      // Summed over a whole document too.
      const doc = `{"a": [${literals.join(', ')}], "s": "1e300"}`;
      const sum = await c.query<{ n: string }>(
        'SELECT collector_json_number_text_bytes($1::jsonb) AS n',
        [doc],
      );
      expect(Number(sum.rows[0]?.n)).toBe(counted(doc));
    });
  });

  it.each([
    ['publisher', () => pub().adminUrl],
    ['subscriber', () => collector().subscriberAdminUrl],
  ])(
    'says yes at exactly 4 MiB and no past it, zeros included, and answers fast (%s)',
    async (_, url) => {
      const docs = {
        ordinary: '{"a": {"b": [1, 2.5, 0, -3, "1e300", true, null]}, "c": 12345678901234567}',
        atLimit: array(32, '1e131071'),
        overByOne: `[${Array(32).fill('1e131071').join(', ')}, 1e19]`,
        poison: array(4200, '1e131071'),
        zeros: array(300, '0e-16383'),
      };
      await withClient(url(), async (c) => {
        const servable = async (doc: string) => {
          const began = performance.now();
          const { rows } = await c.query<{ ok: boolean }>(
            'SELECT collector_json_servable($1::jsonb) AS ok',
            [doc],
          );
          return { ok: rows[0]?.ok, ms: performance.now() - began };
        };
        expect((await servable(docs.ordinary)).ok).toBe(true);
        expect((await servable(docs.atLimit)).ok).toBe(true);
        expect((await servable(docs.overByOne)).ok).toBe(false);
        expect((await servable(docs.zeros)).ok).toBe(false);
        const poison = await servable(docs.poison);
        expect(poison.ok).toBe(false);
        expect(poison.ms).toBeLessThan(2000);
        for (const doc of Object.values(docs)) {
          expect(counted(doc) <= MAX_NUMBER_TEXT_BYTES).toBe((await servable(doc)).ok);
        }
      });
    },
  );
});

describe('the servable column on the subscriber, computed by the replication apply worker', () => {
  it('is computed for each replicated row through a PL/pgSQL wrapper, not an inlined SQL body', async () => {
    // The apply worker prepares generated columns again for every row: an SQL-standard function
    // there is read back from its stored node tree each time (sql/subscriber/025).
    const pubUrl = collector().publishers[0]?.url as string;
    const created = await http<{ id: string }>(`${pubUrl}/data`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"data": {"counted": 1e19, "small": 0.5}}',
    });
    expect(created.status).toBe(201);
    await withClient(collector().subscriberAdminUrl, async (c) => {
      const row = await waitFor('the row on the subscriber', async () => {
        const { rows } = await c.query<{ servable: boolean }>(
          'SELECT servable FROM data WHERE id = $1',
          [created.body.id],
        );
        return rows[0];
      });
      expect(row.servable).toBe(true);
      const { rows } = await c.query<{ lang: string; column: string }>(
        `SELECT l.lanname AS lang, pg_get_expr(d.adbin, d.adrelid) AS column
           FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
           JOIN pg_depend dep ON dep.classid = 'pg_attrdef'::regclass AND dep.objid = d.oid
                             AND dep.refclassid = 'pg_proc'::regclass
           JOIN pg_proc p ON p.oid = dep.refobjid JOIN pg_language l ON l.oid = p.prolang
          WHERE a.attname = 'servable' ORDER BY d.adrelid::regclass::text`,
      );
      expect(rows).toEqual([
        { lang: 'plpgsql', column: 'collector_json_servable(body)' },
        { lang: 'plpgsql', column: 'collector_json_servable(data)' },
      ]);
    });
  });

  it("keeps the publisher's rule: the wrapped function is the publisher's, under another name", async () => {
    // sql/subscriber/025 writes the rule of 006 out again; the two must never drift apart.
    const definition = (url: string, fn: string) =>
      withClient(url, async (c) => {
        const { rows } = await c.query<{ def: string }>(
          `SELECT pg_get_functiondef($1::regprocedure) AS def`,
          [`${fn}(jsonb)`],
        );
        return (rows[0]?.def ?? '').replace(fn, 'f');
      });
    const onPublisher = await definition(pub().adminUrl, 'collector_json_servable');
    expect(onPublisher).toContain('RETURN');
    expect(await definition(collector().subscriberAdminUrl, 'collector_json_servable_inline')).toBe(
      onPublisher,
    );
  });
});

describe('the publisher API and poison numbers (scratch database)', () => {
  const database = `scratch_numbers_${randomBytes(4).toString('hex')}`;
  const onScratch = (url: string) => {
    const u = new URL(url);
    u.pathname = `/${database}`;
    return u.toString();
  };
  let api: RunningService;
  const adminUrl = () => onScratch(pub().adminUrl);

  beforeAll(async () => {
    await withClient(pub().adminUrl, (c) => c.query(`CREATE DATABASE ${database}`));
    const db = createKysely(adminUrl(), { applicationName: 'test-scratch', max: 1 });
    try {
      await migrate(db, 'publisher');
      await sql`ALTER TABLE data ALTER COLUMN publisher SET DEFAULT 'scratch'`.execute(db);
    } finally {
      await db.destroy();
    }
    api = await startPublisherApi({
      databaseUrl: onScratch(pub().apiDatabaseUrl),
      host: '127.0.0.1',
      port: 0,
      bodyLimit: 1024 * 1024,
      logLevel: 'silent',
    });
  });
  afterAll(async () => {
    await api?.stop();
    await withClient(pub().adminUrl, (c) =>
      c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`),
    );
  });

  const rowCount = () =>
    withClient(adminUrl(), async (c) => {
      const { rows } = await c.query<{ n: string }>('SELECT count(*) AS n FROM data');
      return Number(rows[0]?.n);
    });

  /** Stores `json` directly, as the superuser: what a row from before the fix looks like. */
  const insertDirectly = (json: string) =>
    withClient(adminUrl(), async (c) => {
      const { rows } = await c.query<{ id: string }>(
        'INSERT INTO data (data) VALUES ($1::jsonb) RETURNING id',
        [json],
      );
      return rows[0]?.id as string;
    });

  const post = (body: string) =>
    http<{ error: { code: string; message: string } }>(`${api.url}/data`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });

  it.each([
    ['the 38 KB poison body', POISON, '550,502,400'],
    ['500 numbers of 131,072 digits (4.5 KB)', `{"data": ${array(500, '1e131071')}}`, '65,536,000'],
    ['zeros with 16,383 decimals', `{"data": ${array(300, '0e-16383')}}`, '4,915,500'],
  ])('refuses %s with 400, saying why and what to do', async (_what, body, bytes) => {
    const before = await rowCount();
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('BAD_USER_INPUT');
    expect(res.body.error.message).toMatch(/written out in full|writes out in full/);
    expect(res.body.error.message).toContain(`${bytes} bytes`);
    expect(res.body.error.message).toMatch(/4 MiB/);
    expect(res.body.error.message).toMatch(/as strings/);
    expect(await rowCount()).toBe(before);
  });

  it('stores legitimate big numbers exactly, written out as PostgreSQL writes them', async () => {
    const thousandDigits = '1234567890'.repeat(100);
    const body = `{"data": {"big": 12345678901234567890, "neg": -98765432109876543210.5, "scaled": 1.50, "e25": 1e25, "tiny": 1.5e-25, "long": ${thousandDigits}, "many": ${array(20, '1e300')}}}`;
    const res = await post(body);
    expect(res.status).toBe(201);
    const { id } = JSON.parse(res.text) as { id: string };
    const written = {
      big: '12345678901234567890',
      neg: '-98765432109876543210.5',
      scaled: '1.50',
      e25: `1${'0'.repeat(25)}`,
      tiny: `0.${'0'.repeat(24)}15`,
      long: thousandDigits,
      many: `1${'0'.repeat(300)}`,
    };
    const back = await http(`${api.url}/data/${id}`);
    expect(back.status).toBe(200);
    for (const text of [res.text, back.text]) {
      for (const [key, value] of Object.entries(written)) {
        expect(text).toContain(key === 'many' ? `[${value}, ` : `"${key}": ${value}`);
      }
    }
    await withClient(adminUrl(), async (c) => {
      const { rows } = await c.query("SELECT data->>'long' AS long FROM data WHERE id = $1", [id]);
      expect(rows[0]?.long).toBe(thousandDigits);
    });
  });

  it('answers a stored poison row with 422 naming the id, quickly, and stays up', async () => {
    const id = await insertDirectly(array(4200, '1e131071'));
    const began = performance.now();
    const res = await http<{ error: { code: string; message: string } }>(`${api.url}/data/${id}`);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('TOO_LARGE_TO_SERVE');
    expect(res.body.error.message).toContain(id);
    expect(res.body.error.message).toMatch(/more than 4 MiB/);
    expect(performance.now() - began).toBeLessThan(5000);
    expect((await http(`${api.url}/health`)).status).toBe(200);
  });

  it('answers a stored row of long zeros with 422 too', async () => {
    const id = await insertDirectly(array(300, '0e-16383'));
    const res = await http<{ error: { code: string } }>(`${api.url}/data/${id}`);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('TOO_LARGE_TO_SERVE');
  });

  it('lists a poison row as an error item and serves the rest of the page', async () => {
    const before = await post('{"data": {"n": "before"}}');
    const poison = await insertDirectly(array(4200, '1e131071'));
    const after = await post('{"data": {"n": "after"}}');
    const began = performance.now();
    const res = await http<{
      items: Array<{ id: string; data: unknown; error?: { code: string; message: string } }>;
    }>(`${api.url}/data?first=1000`);
    expect(res.status).toBe(200);
    expect(performance.now() - began).toBeLessThan(5000);
    const byId = new Map(res.body.items.map((item) => [item.id, item]));
    const bad = byId.get(poison);
    expect(bad).toMatchObject({ data: null, error: { code: 'TOO_LARGE_TO_SERVE' } });
    expect(bad?.error?.message).toContain(poison);
    for (const ok of [before, after]) {
      const item = byId.get((JSON.parse(ok.text) as { id: string }).id);
      expect(item?.data).toEqual(JSON.parse(ok.text).data);
      expect(item?.error).toBeUndefined();
    }
  });
});
