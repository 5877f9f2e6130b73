/**
 * The publisher's REST API over real HTTP against a real publisher database: the happy paths, and
 * every bad input answered with a clear 4xx that stores nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../common/service.js';
import { startPublisherApi } from '../publisher-api/start.js';
import {
  adminToken,
  collector,
  gql,
  http,
  postDatum,
  replicated,
  uniqueTag,
  withClient,
} from './helpers.js';

// Ids are the database's uuidv7() (sql/publisher/011_uuidv7_ids.sql): version 7, RFC 9562 variant.
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const pub = () =>
  collector().publishers[0] as {
    name: string;
    url: string;
    adminUrl: string;
    apiDatabaseUrl: string;
  };

/** Rows on the publisher whose JSON text contains `marker`. */
async function rowsContaining(marker: string): Promise<number> {
  return withClient(pub().adminUrl, async (c) => {
    const { rows } = await c.query<{ n: string }>(
      'SELECT count(*) AS n FROM data WHERE data::text LIKE $1',
      [`%${marker}%`],
    );
    return Number(rows[0]?.n);
  });
}

describe('POST /data', () => {
  it('stores any JSON value under a server-generated UUID, stamped by the publisher', async () => {
    const tag = uniqueTag();
    const res = await postDatum(pub().url, { email: 'john@email.com', amount: 123, tag });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(Object.keys(res.body).sort()).toEqual(['createdAt', 'data', 'id', 'publisher']);
    expect(res.body.id).toMatch(UUID_RE);
    expect(res.body.publisher).toBe(pub().name);
    expect(res.body.data).toEqual({ email: 'john@email.com', amount: 123, tag });
    expect(Math.abs(Date.parse(res.body.createdAt) - Date.now())).toBeLessThan(60_000);
  });

  it('accepts the original Django curl unchanged: /data/ with a JSON body', async () => {
    const res = await http<{ id: string }>(`${pub().url}/data/`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"data": {"email":"john@email.com","amount":123}}',
    });
    expect(res.status).toBe(201);
    expect(res.body.id).toMatch(UUID_RE);
  });

  it.each([
    ['a string', 'hello'],
    ['a number', 42.5],
    ['an array', [1, 'two', { three: 3 }]],
    ['JSON null', null],
    ['booleans', false],
    ['nested objects', { a: { b: { c: [true, null] } }, __proto__x: 1 }],
  ])('stores %s', async (_what, value) => {
    const res = await postDatum(pub().url, value);
    expect(res.status).toBe(201);
    expect(res.body.data).toEqual(value);
    const back = await http<{ data: unknown }>(`${pub().url}/data/${res.body.id}`);
    expect(back.body.data).toEqual(value);
  });

  it('stores keys named __proto__ and constructor as plain data, and serves them back', async () => {
    const tag = uniqueTag('proto');
    const body = `{"data": {"__proto__": {"polluted": "${tag}"}, "constructor": {"prototype": 1}}}`;
    const res = await http<{ id: string }>(`${pub().url}/data`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(res.status).toBe(201);
    const id = res.body.id;
    // The raw text the server sent: PostgreSQL's jsonb text form, spliced in unchanged.
    const stored = `{"__proto__": {"polluted": "${tag}"}, "constructor": {"prototype": 1}}`;
    expect(res.text).toContain(`"data":${stored}`);
    const back = await http(`${pub().url}/data/${id}`);
    expect(back.text).toContain(`"data":${stored}`);
    // What the databases hold: a key named __proto__, on the publisher and once replicated.
    await replicated(id);
    for (const url of [pub().adminUrl, collector().subscriberAdminUrl]) {
      await withClient(url, async (c) => {
        const { rows } = await c.query(
          `SELECT array(SELECT jsonb_object_keys(data) ORDER BY 1) AS keys,
                  data->'__proto__'->>'polluted' AS polluted FROM data WHERE id = $1`,
          [id],
        );
        expect(rows).toEqual([{ keys: ['__proto__', 'constructor'], polluted: tag }]);
      });
    }
    // And the gateway serves it as data too.
    const viaGraphql = await gql(
      'query($id: UUID!) { datum(id: $id) { data } }',
      { id },
      await adminToken(),
    );
    // Served as PostgreSQL's own text of the jsonb, with its spacing.
    expect(viaGraphql.text).toContain(`"__proto__": {"polluted": "${tag}"}`);
  });

  it('keeps numbers beyond double precision exactly', async () => {
    const body = '{"data": {"big": 12345678901234567890123, "exact": 0.1000000000000000055511}}';
    const res = await http(`${pub().url}/data`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(res.status).toBe(201);
    expect(res.text).toContain('12345678901234567890123');
    expect(res.text).toContain('0.1000000000000000055511');
  });

  it('GET /data/{id} and GET /data serve numbers beyond double precision digit for digit', async () => {
    const tag = uniqueTag('digits');
    const created = await http<{ id: string }>(`${pub().url}/data`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"data": {"tag": "${tag}", "big": 12345678901234567890, "frac": 1.000000000000000000001}}`,
    });
    expect(created.status).toBe(201);
    const id = created.body.id;
    /** The JSON text of this row's item in a response (datumJson writes id … data … createdAt). */
    const item = (text: string): string | undefined => {
      const start = text.indexOf(`{"id":"${id}"`);
      return start < 0 ? undefined : text.slice(start, text.indexOf('"createdAt"', start));
    };
    const expectExact = (text: string | undefined) => {
      expect(text).toMatch(/"big": 12345678901234567890[,}]/);
      expect(text).toMatch(/"frac": 1\.000000000000000000001[,}]/);
    };
    const one = await http(`${pub().url}/data/${id}`);
    expect(one.status).toBe(200);
    expectExact(item(one.text));
    // The listing, newest first: walk pages (reading only the text) until the row shows up.
    let after = '';
    let found: string | undefined;
    for (let pages = 0; pages < 100 && !found; pages++) {
      const page = await http(`${pub().url}/data?first=100${after ? `&after=${after}` : ''}`);
      expect(page.status).toBe(200);
      found = item(page.text);
      after = /"endCursor":"([^"]+)"/.exec(page.text)?.[1] ?? '';
      if (!after) break;
    }
    expectExact(found);
  });

  it('will not let a client choose the id, the publisher or the timestamp', async () => {
    const marker = uniqueTag('extra');
    const res = await http<{ error: { code: string; message: string } }>(`${pub().url}/data`, {
      method: 'POST',
      json: { data: { marker }, id: '00000000-0000-4000-8000-000000000000', publisher: 'evil' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('BAD_USER_INPUT');
    expect(res.body.error.message).toMatch(/only "data" is accepted/);
    expect(await rowsContaining(marker)).toBe(0);
  });
});

describe('bad input: a clear 4xx, and nothing stored', () => {
  const cases: Array<
    [string, () => { headers?: Record<string, string>; body?: string }, number, RegExp]
  > = [
    [
      'malformed JSON',
      () => ({ headers: { 'content-type': 'application/json' }, body: '{"data": {"m": "MARK"' }),
      400,
      /Malformed JSON/,
    ],
    [
      'an empty JSON body',
      () => ({ headers: { 'content-type': 'application/json' }, body: '' }),
      400,
      /empty/,
    ],
    [
      'a body without "data"',
      () => ({ headers: { 'content-type': 'application/json' }, body: '{"date": "MARK"}' }),
      400,
      /Missing field "data"/,
    ],
    [
      'a JSON array body',
      () => ({ headers: { 'content-type': 'application/json' }, body: '[{"data": "MARK"}]' }),
      400,
      /must be a JSON object/,
    ],
    [
      'a form-encoded body',
      () => ({
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'data=MARK',
      }),
      415,
      /Content-Type: application\/json/,
    ],
    [
      'text/plain',
      () => ({ headers: { 'content-type': 'text/plain' }, body: '{"data": "MARK"}' }),
      415,
      /application\/json/,
    ],
    ['no content type', () => ({ body: '{"data": "MARK"}' }), 415, /application\/json/],
    [
      'a NUL character, which jsonb cannot store',
      () => ({
        headers: { 'content-type': 'application/json' },
        body: '{"data": {"m": "MARK", "nul": "a\\u0000b"}}',
      }),
      400,
      /Unicode/,
    ],
    [
      'a lone surrogate',
      () => ({
        headers: { 'content-type': 'application/json' },
        body: '{"data": {"m": "MARK", "s": "\\ud800"}}',
      }),
      400,
      /Invalid value/,
    ],
  ];

  it.each(cases)('%s', async (_what, make, status, message) => {
    const marker = uniqueTag('bad');
    const req = make();
    const res = await http<{ error: { code: string; message: string } }>(`${pub().url}/data`, {
      method: 'POST',
      headers: req.headers,
      body: req.body?.replace('MARK', marker),
    });
    expect(res.status).toBe(status);
    expect(res.body.error.message).toMatch(message);
    expect(res.body.error.code).toBe(status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'BAD_USER_INPUT');
    expect(await rowsContaining(marker)).toBe(0);
  });

  it('an oversized body (over 1 MiB by default) gets 413', async () => {
    const marker = uniqueTag('big');
    const body = JSON.stringify({ data: { marker, pad: 'x'.repeat(1024 * 1024) } });
    const res = await http<{ error: { code: string; message: string } }>(`${pub().url}/data`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(res.body.error.message).toMatch(/1048576 bytes.*COLLECTOR_BODY_LIMIT/);
    expect(await rowsContaining(marker)).toBe(0);
  });

  it('a bad id gets 400 and an unknown one 404', async () => {
    const bad = await http<{ error: { code: string } }>(`${pub().url}/data/not-a-uuid`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('BAD_USER_INPUT');
    const unknown = await http<{ error: { code: string; message: string } }>(
      `${pub().url}/data/00000000-0000-4000-8000-000000000000`,
    );
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toMatch(/No datum with id/);
  });

  it('bad paging parameters and unknown routes get 4xx', async () => {
    expect((await http(`${pub().url}/data?first=abc`)).status).toBe(400);
    expect((await http(`${pub().url}/data?first=100000`)).status).toBe(400);
    expect((await http(`${pub().url}/data?after=bm9wZQ`)).status).toBe(400);
    const missing = await http<{ error: { code: string } }>(`${pub().url}/nope`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('NOT_FOUND');
    expect((await http(`${pub().url}/data`, { method: 'DELETE' })).status).toBe(405);
  });
});

describe('reads', () => {
  it('GET /data/{id} returns the stored row', async () => {
    const created = await postDatum(pub().url, { tag: uniqueTag() });
    const res = await http(`${pub().url}/data/${created.body.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(created.body);
  });

  it("GET /data lists this publisher's rows newest first, in pages", async () => {
    const tag = uniqueTag('list');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await postDatum(pub().url, { tag, i })).body.id);
    const seen: string[] = [];
    const all = new Set<string>();
    let after: string | null = null;
    for (;;) {
      const qs: string = `first=2${after ? `&after=${after}` : ''}`;
      const res = await http<{
        items: Array<{ id: string; publisher: string; data: { tag?: string } }>;
        pageInfo: { hasNextPage: boolean; endCursor: string | null };
      }>(`${pub().url}/data/?${qs}`);
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      for (const item of res.body.items) {
        expect(item.publisher).toBe(pub().name);
        expect(all.has(item.id)).toBe(false);
        all.add(item.id);
        if (item.data?.tag === tag) seen.push(item.id);
      }
      if (!res.body.pageInfo.hasNextPage) break;
      after = res.body.pageInfo.endCursor;
    }
    expect(seen).toEqual([...ids].reverse());
  });

  it('GET /health says the process is up; GET /ready reports the database reachable', async () => {
    const res = await http(`${pub().url}/health`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
    const ready = await http(`${pub().url}/ready`);
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready', database: 'reachable' });
  });
});

describe('configuration', () => {
  let small: RunningService;
  beforeAll(async () => {
    small = await startPublisherApi({
      databaseUrl: pub().apiDatabaseUrl,
      host: '127.0.0.1',
      port: 0,
      bodyLimit: 200,
      logLevel: 'silent',
    });
  });
  afterAll(() => small.stop());

  it('honours a configured body limit', async () => {
    const marker = uniqueTag('lim');
    const over = await postDatum(small.url, { marker, pad: 'y'.repeat(300) });
    expect(over.status).toBe(413);
    expect(await rowsContaining(marker)).toBe(0);
    const under = await postDatum(small.url, { marker });
    expect(under.status).toBe(201);
    expect(await rowsContaining(marker)).toBe(1);
  });

  it('answers 503 on /ready and POST when its database is unreachable (200 on /health)', async () => {
    const down = await startPublisherApi({
      databaseUrl: 'postgres://nobody:nothing@127.0.0.1:1/none',
      host: '127.0.0.1',
      port: 0,
      bodyLimit: 1024,
      logLevel: 'silent',
    });
    try {
      expect((await http(`${down.url}/ready`)).status).toBe(503);
      expect((await http(`${down.url}/health`)).status).toBe(200);
      const res = await postDatum(down.url, { x: 1 });
      expect(res.status).toBe(503);
    } finally {
      await down.stop();
    }
  });
});
