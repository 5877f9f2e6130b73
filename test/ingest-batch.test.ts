/**
 * POST /data/batch against publisher 1's real database: a JSON array or NDJSON of {"data": …}
 * items, stored all or nothing, answered in input order; errors name the item (index) or line;
 * empty and oversized batches are refused; numbers keep every digit; the insert scope applies.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../common/env.js';
import type { RunningService } from '../common/service.js';
import { generateApiKey, hashApiKey, storeApiKey } from '../publisher-api/api-keys.js';
import { arrayElementTexts } from '../publisher-api/batch.js';
import { publisherConfigFromEnv } from '../publisher-api/config.js';
import type { PublisherDB } from '../publisher-api/db.js';
import { collector, http, replicated, startTestApi, uniqueTag, withClient } from './helpers.js';

interface Publisher {
  name: string;
  url: string;
  adminUrl: string;
}
const pub = () => collector().publishers[0] as Publisher;

interface BatchAnswer {
  items: Array<{ id: string; publisher: string; createdAt: string }>;
  error?: { code: string; message: string };
}

const MAX = 10;
let api: RunningService;

beforeAll(async () => {
  api = await startTestApi({ maxBatchItems: MAX });
});
afterAll(async () => {
  await api?.stop();
});

function postBatch(body: string, type = 'application/json', headers: Record<string, string> = {}) {
  return http<BatchAnswer>(`${api.url}/data/batch`, {
    method: 'POST',
    headers: { 'content-type': type, ...headers },
    body,
  });
}

/** The stored JSON text of each row, by id, whose text contains `marker`. */
async function stored(marker: string): Promise<Map<string, string>> {
  return withClient(pub().adminUrl, async (c) => {
    const { rows } = await c.query<{ id: string; t: string }>(
      'SELECT id, data::text AS t FROM data WHERE data::text LIKE $1',
      [`%${marker}%`],
    );
    return new Map(rows.map((r) => [r.id, r.t]));
  });
}

describe('POST /data/batch: JSON array', () => {
  it('stores every item and answers their ids in input order, numbers exact', async () => {
    const marker = uniqueTag('arr');
    const body = `[
      {"data": {"marker": "${marker}", "i": 0, "n": 12345678901234567890123}},
      {"data": {"marker": "${marker}", "i": 1, "n": 0.10000000000000000000000001}},
      {"data": {"marker": "${marker}", "i": 2, "n": 1.5}},
      {"data": {"marker": "${marker}", "i": 3, "n": 7}}
    ]`;
    const res = await postBatch(body);
    expect(res.status).toBe(201);
    expect(res.body.items).toHaveLength(4);
    for (const item of res.body.items) {
      expect(Object.keys(item)).toEqual(['id', 'publisher', 'createdAt']);
      expect(item.publisher).toBe(pub().name);
    }
    const rows = await stored(marker);
    const expected = ['12345678901234567890123', '0.10000000000000000000000001', '1.5', '7'];
    res.body.items.forEach((item, i) => {
      expect(rows.get(item.id)).toContain(`"i": ${i}`);
      expect(rows.get(item.id)).toContain(`"n": ${expected[i]}`);
    });
    await replicated(res.body.items[3]?.id as string);
  });

  it('one bad item (NUL in a string) stores nothing, and the 400 names its index', async () => {
    const marker = uniqueTag('arrbad');
    const items = Array.from(
      { length: 5 },
      (_, i) => `{"data": {"marker": "${marker}", "i": ${i}}}`,
    );
    items[3] = `{"data": {"marker": "${marker}", "nul": "a\\u0000b"}}`;
    const res = await postBatch(`[${items.join(',')}]`);
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('BAD_USER_INPUT');
    expect(res.body.error?.message).toMatch(
      /^Item 3: Invalid value: .*Unicode.*Nothing was stored/,
    );
    expect((await stored(marker)).size).toBe(0);
  });

  it('an item of the wrong shape is named: extra field, missing data, not an object', async () => {
    const marker = uniqueTag('shape');
    const cases: Array<[string, RegExp]> = [
      [`{"data": 1, "id": "x"}`, /^Item 1: Unknown field\(s\) "id"/],
      [`{"dta": 1}`, /^Item 1: Missing field "data"/],
      ['42', /^Item 1: The body must be a JSON object/],
    ];
    for (const [bad, message] of cases) {
      const res = await postBatch(`[{"data": "${marker}"}, ${bad}, {"data": "${marker}"}]`);
      expect(res.status).toBe(400);
      expect(res.body.error?.message).toMatch(message);
    }
    expect((await stored(marker)).size).toBe(0);
  });

  it('an empty batch is a 400 that says so', async () => {
    const res = await postBatch('[]');
    expect(res.status).toBe(400);
    expect(res.body.error?.message).toMatch(/The batch is empty/);
  });

  it('more items than the limit is a 413 naming the limit; nothing stored', async () => {
    const marker = uniqueTag('over');
    const items = Array.from({ length: MAX + 1 }, (_, i) => ({ data: { marker, i } }));
    const res = await postBatch(JSON.stringify(items));
    expect(res.status).toBe(413);
    expect(res.body.error?.code).toBe('PAYLOAD_TOO_LARGE');
    expect(res.body.error?.message).toMatch(
      new RegExp(`${MAX + 1} items, more than the limit of ${MAX} .*COLLECTOR_MAX_BATCH_ITEMS`),
    );
    expect((await stored(marker)).size).toBe(0);
    // Exactly the limit is fine.
    const ok = await postBatch(JSON.stringify(items.slice(0, MAX)));
    expect(ok.status).toBe(201);
    expect(ok.body.items).toHaveLength(MAX);
  });

  it('a body that is not an array, or not JSON at all, is a 400; another type a 415', async () => {
    const notArray = await postBatch('{"data": 1}');
    expect(notArray.status).toBe(400);
    expect(notArray.body.error?.message).toMatch(/JSON array of \{"data"/);
    const broken = await postBatch('[{"data": 1},');
    expect(broken.status).toBe(400);
    expect(broken.body.error?.message).toMatch(/Malformed JSON/);
    const text = await postBatch('{"data": 1}', 'text/plain');
    expect(text.status).toBe(415);
  });
});

describe('arrayElementTexts: each item of a JSON array body as its own text', () => {
  it.each([
    ['plain', '[{"data": 1},{"data": 2}]'],
    ['whitespace everywhere', ' \r\n\t[ \n {"data": 1} \t,\r\n {"data" : [ 2 , 3 ] }\n ] \n'],
    [
      'strings holding brackets, commas and quotes',
      '[{"data": "],[{}\\"\\\\"}, {"data": {"a": "}"}}]',
    ],
    ['escaped backslash before a closing quote', '[{"data": "x\\\\"}, {"data": "\\u005d,"}]'],
    ['nested arrays and objects', '[{"data": [[1, [2]], {"b": [{"c": []}]}]}, {"data": {}}]'],
    ['scalars and an empty array', '[1, "a", null, true, [], {}]'],
    ['one item', '[{"data": 12345678901234567890123}]'],
    ['no items', '[]'],
  ])('%s', (_, text) => {
    const texts = arrayElementTexts(text);
    const items = JSON.parse(text) as unknown[];
    expect(texts).toHaveLength(items.length);
    // Each text is exactly one item: it parses alone, to that item.
    texts.forEach((t, i) => {
      expect(t).toBe(t.trim());
      expect(JSON.parse(t)).toEqual(items[i]);
    });
  });

  it('keeps the digits of each number as sent', () => {
    expect(arrayElementTexts('[{"data": 0.10000000000000000000000001}, -1e400]')).toEqual([
      '{"data": 0.10000000000000000000000001}',
      '-1e400',
    ]);
  });
});

describe('POST /data/batch: NDJSON', () => {
  const ndjson = 'application/x-ndjson';

  it('stores one item per line, skipping blank lines, CRLF accepted, numbers exact', async () => {
    const marker = uniqueTag('nd');
    const body =
      `{"data": {"marker": "${marker}", "i": 0, "n": 98765432109876543210987}}\r\n` +
      '\n' +
      `{"data": {"marker": "${marker}", "i": 1, "n": -0.000000000000000000001234}}\n` +
      `{"data": {"marker": "${marker}", "i": 2}}\n`;
    const res = await postBatch(body, ndjson);
    expect(res.status).toBe(201);
    expect(res.body.items).toHaveLength(3);
    const rows = await stored(marker);
    const [a, b, c] = res.body.items.map((item) => rows.get(item.id));
    expect(a).toContain('"n": 98765432109876543210987');
    expect(b).toContain('"n": -0.000000000000000000001234');
    expect(c).toContain('"i": 2');
  });

  it('a broken line is a 400 naming its line number; nothing stored', async () => {
    const marker = uniqueTag('ndbad');
    const body = [
      `{"data": {"marker": "${marker}", "i": 0}}`,
      '',
      `{"data": {"marker": "${marker}", "i": 1}`,
      `{"data": {"marker": "${marker}", "i": 2}}`,
    ].join('\n');
    const res = await postBatch(body, ndjson);
    expect(res.status).toBe(400);
    expect(res.body.error?.message).toMatch(/^Line 3: Malformed JSON/);
    expect((await stored(marker)).size).toBe(0);
  });

  it('a line jsonb refuses is named by its line number; nothing stored', async () => {
    const marker = uniqueTag('ndnul');
    const body = [
      `{"data": {"marker": "${marker}", "i": 0}}`,
      `{"data": {"marker": "${marker}", "s": "\\ud800"}}`,
    ].join('\n');
    const res = await postBatch(body, ndjson);
    expect(res.status).toBe(400);
    expect(res.body.error?.message).toMatch(/^Line 2: Invalid value/);
    expect((await stored(marker)).size).toBe(0);
  });

  it('blank lines only is an empty batch; too many lines a 413', async () => {
    const empty = await postBatch('\n\n', ndjson);
    expect(empty.status).toBe(400);
    expect(empty.body.error?.message).toMatch(/The batch is empty/);
    const many = await postBatch(
      Array(MAX + 1)
        .fill('{"data": 1}')
        .join('\n'),
      ndjson,
    );
    expect(many.status).toBe(413);
  });

  it('POST /data itself still refuses NDJSON with a 415', async () => {
    const res = await http(`${api.url}/data`, {
      method: 'POST',
      headers: { 'content-type': ndjson },
      body: '{"data": 1}',
    });
    expect(res.status).toBe(415);
  });
});

describe('POST /data/batch: API keys and config', () => {
  it('needs a key with the insert scope when keys are required', async () => {
    const admin = new Kysely<PublisherDB>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: pub().adminUrl }) }),
    });
    const required = await startTestApi({ auth: 'required', keyCacheTtlMs: 0 });
    try {
      const readKey = generateApiKey();
      const insertKey = generateApiKey();
      await storeApiKey(admin, uniqueTag('batch-read').slice(0, 40), hashApiKey(readKey), ['read']);
      await storeApiKey(admin, uniqueTag('batch-insert').slice(0, 40), hashApiKey(insertKey), [
        'insert',
      ]);
      const send = (key?: string) =>
        http<BatchAnswer>(`${required.url}/data/batch`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(key ? { authorization: `Bearer ${key}` } : {}),
          },
          body: '[{"data": "batch-auth"}]',
        });
      expect((await send()).status).toBe(401);
      expect((await send(readKey)).status).toBe(403);
      expect((await send(insertKey)).status).toBe(201);
    } finally {
      await required.stop();
      await admin.destroy();
    }
  });

  it('COLLECTOR_MAX_BATCH_ITEMS defaults to 1000 and a bad value names the variable', () => {
    const env = { COLLECTOR_PUBLISHER_DATABASE_URL: 'postgres://u:p@db:5432/collector' };
    expect(publisherConfigFromEnv(env).maxBatchItems).toBe(1000);
    expect(publisherConfigFromEnv({ ...env, COLLECTOR_MAX_BATCH_ITEMS: '500' }).maxBatchItems).toBe(
      500,
    );
    try {
      publisherConfigFromEnv({ ...env, COLLECTOR_MAX_BATCH_ITEMS: '0' });
      expect.unreachable();
    } catch (e) {
      expect((e as ConfigError).problems).toEqual([
        expect.stringMatching(/^COLLECTOR_MAX_BATCH_ITEMS: must be >= 1/),
      ]);
    }
  });
});
