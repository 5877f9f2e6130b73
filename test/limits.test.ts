/**
 * What one request may ask for: JSON depth on both sides, GraphQL depth and size, login guessing.
 * Every refusal is a 4xx with a readable message, and stores nothing.
 */
import net from 'node:net';
import { getIntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKysely } from '../common/db.js';
import type { RunningService } from '../common/service.js';
import { startPublisherApi } from '../publisher-api/start.js';
import type { SubscriberDB } from '../subscriber-graphql/db.js';
import { createUser } from '../subscriber-graphql/services/users.js';
import {
  adminToken,
  collector,
  gql,
  http,
  postDatum,
  replicatedDatum,
  uniqueTag,
  withClient,
} from './helpers.js';

const pub = () => collector().publishers[0] as { url: string; adminUrl: string };

function nested(depth: number, marker: string): string {
  return `${'['.repeat(depth)}"${marker}"${']'.repeat(depth)}`;
}

describe('JSON depth', () => {
  it.each([600, 5_000, 50_000])(
    'refuses data nested %i deep with 400, storing nothing',
    async (depth) => {
      const marker = uniqueTag('deep');
      const res = await http<{ error: { code: string; message: string } }>(`${pub().url}/data`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{"data": ${nested(depth, marker)}}`,
      });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(/nests deeper than 512 levels/);
      await withClient(pub().adminUrl, async (c) => {
        const { rowCount } = await c.query('SELECT 1 FROM data WHERE data::text LIKE $1', [
          `%${marker}%`,
        ]);
        expect(rowCount).toBe(0);
      });
    },
  );

  it('accepts 500 levels', async () => {
    const res = await http(`${pub().url}/data`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"data": ${nested(500, 'ok')}}`,
    });
    expect(res.status).toBe(201);
  });

  it('accepts exactly 512 levels and refuses 513 (MAX_JSON_DEPTH)', async () => {
    const marker = uniqueTag('edge');
    const at = await http<{ data: unknown }>(`${pub().url}/data`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"data": ${nested(512, marker)}}`,
    });
    expect(at.status).toBe(201);
    const over = await http<{ error: { code: string; message: string } }>(`${pub().url}/data`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"data": ${nested(513, marker)}}`,
    });
    expect(over.status).toBe(400);
    expect(over.body.error.code).toBe('BAD_USER_INPUT');
    expect(over.body.error.message).toMatch(/nests deeper than 512 levels/);
    await withClient(pub().adminUrl, async (c) => {
      const { rows } = await c.query<{ depth: number }>(
        `SELECT length(data::text) - length(replace(data::text, '[', '')) AS depth
           FROM data WHERE data::text LIKE $1`,
        [`%${marker}%`],
      );
      // Only the 512-level document was stored.
      expect(rows).toEqual([{ depth: 512 }]);
    });
  });

  it('accepts an annotation body of exactly 512 levels and refuses 513', async () => {
    const id = await replicatedDatum({ tag: uniqueTag('annedge') });
    const token = await adminToken();
    const annotate = async (depth: number) =>
      gql(
        'mutation($id: UUID!, $body: JSON!) { annotate(dataId: $id, body: $body) { id } }',
        { id, body: JSON.parse(nested(depth, 'x')) },
        token,
      );
    const at = await annotate(512);
    expect(at.status).toBe(200);
    expect(at.body.errors).toBeUndefined();
    const over = await annotate(513);
    expect(over.status).toBe(400);
    expect(over.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(over.body.errors?.[0]?.message).toMatch(/nests deeper than 512 levels/);
  });

  it('refuses a deeply nested annotation body', async () => {
    const created = await postDatum(pub().url, { tag: uniqueTag() });
    // 1,000 levels: deeper than allowed, shallow enough for the test's own JSON.stringify.
    const body = JSON.parse(nested(1_000, 'x'));
    const res = await gql(
      'mutation($id: UUID!, $body: JSON!) { annotate(dataId: $id, body: $body) { id } }',
      { id: created.body.id, body },
      await adminToken(),
    );
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(res.body.errors?.[0]?.message).toMatch(/nests deeper than 512 levels/);
  });
});

describe('GraphQL query limits', () => {
  it('refuses a query deeper than 12 fields', async () => {
    // data › nodes › (annotations › datum) × 6 › id: 15 fields deep.
    const deep = `{ data { nodes { ${'annotations { datum { '.repeat(6)}id${' } }'.repeat(6)} } } }`;
    const res = await gql(deep, {}, await adminToken());
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(res.body.errors?.[0]?.message).toMatch(/fields deep; the limit is 12/);
  });

  it('serves a query exactly 12 fields deep and refuses 13', async () => {
    const token = await adminToken();
    // data › nodes › (annotations › datum) × 4 › annotations › id: 12 fields deep.
    const twelve = `{ data(first: 1) { nodes { ${'annotations { datum { '.repeat(4)}annotations { id }${' } }'.repeat(4)} } } }`;
    const ok = await gql(twelve, {}, token);
    expect(ok.status).toBe(200);
    expect(ok.body.errors).toBeUndefined();
    // data › nodes › (annotations › datum) × 5 › id: 13.
    const thirteen = `{ data(first: 1) { nodes { ${'annotations { datum { '.repeat(5)}id${' } }'.repeat(5)} } } }`;
    const refused = await gql(thirteen, {}, token);
    expect(refused.status).toBe(400);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(refused.body.errors?.[0]?.message).toMatch(
      /The query is 13 fields deep; the limit is 12/,
    );
  });

  it('counts depth through inline fragments', async () => {
    // data › nodes › (annotations › datum) × 6 › id, every level behind "... on Type".
    let inner = 'id';
    for (let i = 0; i < 6; i++) inner = `... on Datum { annotations { datum { ${inner} } } }`;
    const res = await gql(
      `{ ... on Query { data { nodes { ${inner} } } } }`,
      {},
      await adminToken(),
    );
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(res.body.errors?.[0]?.message).toMatch(/The query is 15 fields deep; the limit is 12/);
  });

  it('counts depth through named fragments', async () => {
    // f0 › f1 › … › f5, each adding annotations › datum: 15 fields deep in all.
    const fragments = Array.from({ length: 6 }, (_, i) =>
      i < 5
        ? `fragment f${i} on Datum { annotations { datum { ...f${i + 1} } } }`
        : `fragment f${i} on Datum { annotations { datum { id } } }`,
    );
    const res = await gql(
      `query { data { nodes { ...f0 } } } ${fragments.join(' ')}`,
      {},
      await adminToken(),
    );
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(res.body.errors?.[0]?.message).toMatch(/The query is 15 fields deep; the limit is 12/);
  });

  it('serves exactly 500 fields and refuses 501', async () => {
    // data + nodes + n aliased ids; first: 0 keeps the answer small (and independent of the rows).
    const query = (ids: number) =>
      `{ data(first: 0) { nodes { ${Array.from({ length: ids }, (_, i) => `f${i}: id`).join(' ')} } } }`;
    const token = await adminToken();
    const ok = await gql(query(498), {}, token);
    expect(ok.status).toBe(200);
    expect(ok.body.errors).toBeUndefined();
    const refused = await gql(query(499), {}, token);
    expect(refused.status).toBe(400);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(refused.body.errors?.[0]?.message).toMatch(/selects more than 500 fields/);
  });

  it('refuses more than 500 fields, however aliased', async () => {
    const fields = Array.from(
      { length: 300 },
      (_, i) => `a${i}: data(first: 1) { pageInfo { hasNextPage } }`,
    );
    const res = await gql(`{ ${fields.join(' ')} }`, {}, await adminToken());
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.message).toMatch(/selects more than 500 fields/);
  });

  it('measures each fragment once: fragments spreading fragments twice stay cheap', async () => {
    // f0 spreads f1 twice, f1 spreads f2 twice, …: 2^30 paths if every spread were re-measured.
    const fragments = Array.from({ length: 30 }, (_, i) =>
      i < 29
        ? `fragment f${i} on Datum { id ...f${i + 1} annotations { datum { ...f${i + 1} } } }`
        : `fragment f${i} on Datum { id }`,
    );
    // Without the memo this would not finish within the test timeout.
    const res = await gql(
      `{ data(first: 1) { nodes { ...f0 } } } ${fragments.join(' ')}`,
      {},
      await adminToken(),
    );
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('still serves the full introspection query (Apollo Sandbox)', async () => {
    const res = await gql<{ __schema: { types: unknown[] } }>(getIntrospectionQuery());
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data?.__schema.types.length).toBeGreaterThan(10);
  });
});

describe('login throttling', () => {
  const password = 'the-right-password';
  let username: string;

  beforeAll(async () => {
    username = uniqueTag('thr').slice(0, 40);
    const db = createKysely<SubscriberDB>(collector().subscriberAdminUrl, {
      applicationName: 'test',
    });
    try {
      await createUser(db, username, password);
    } finally {
      await db.destroy();
    }
  });

  it('refuses further attempts with 429 after 10 failures, even with the right password', async () => {
    for (let i = 0; i < 10; i++) {
      const res = await http(`${collector().gatewayUrl}/login`, {
        method: 'POST',
        json: { username, password: `wrong-${i}` },
      });
      expect(res.status).toBe(401);
    }
    const blocked = await http<{ error: { code: string; message: string } }>(
      `${collector().gatewayUrl}/login`,
      { method: 'POST', json: { username, password } },
    );
    expect(blocked.status).toBe(429);
    expect(blocked.body.error).toMatchObject({ code: 'TOO_MANY_REQUESTS' });
    expect(blocked.body.error.message).toMatch(/try again in \d+ s/);
    const viaGraphql = await gql(
      'mutation($u: String!, $p: String!) { login(username: $u, password: $p) }',
      {
        u: username,
        p: password,
      },
    );
    expect(viaGraphql.status).toBe(429);
    expect(viaGraphql.body.errors?.[0]?.extensions?.code).toBe('TOO_MANY_REQUESTS');
  });
});

describe('login throttling under parallel guesses', () => {
  // Costs this run's shared gateway 10 failed logins from 127.0.0.1 (its per-address limit is 100
  // in 15 minutes, shared by every test file): keep the number of failed logins caused here small.
  it('counts each attempt before hashing: of 30 parallel wrong logins at most 10 get 401', async () => {
    const username = uniqueTag('par').slice(0, 40);
    const statuses = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        http(`${collector().gatewayUrl}/login`, {
          method: 'POST',
          json: { username, password: `wrong-password-${i}` },
        }).then((r) => r.status),
      ),
    );
    const count = (status: number) => statuses.filter((s) => s === status).length;
    expect(count(401) + count(429)).toBe(30);
    expect(count(401)).toBeLessThanOrEqual(10);
    expect(count(429)).toBeGreaterThanOrEqual(20);
  });
});

describe('transport errors on /graphql are GraphQL-shaped', () => {
  it('malformed JSON', async () => {
    const res = await http<{ errors: Array<{ message: string; extensions: { code: string } }> }>(
      `${collector().gatewayUrl}/graphql`,
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": ' },
    );
    expect(res.status).toBe(400);
    expect(res.body.errors[0]?.extensions.code).toBe('BAD_USER_INPUT');
    expect(res.body.errors[0]?.message).toMatch(/Malformed JSON/);
  });
});

describe('database outages answer 503', () => {
  let dropper: net.Server;
  let api: RunningService;
  beforeAll(async () => {
    // Accepts connections and cuts them at once: "Connection terminated unexpectedly".
    dropper = net.createServer((socket) => socket.destroy());
    await new Promise<void>((r) => dropper.listen(0, '127.0.0.1', r));
    const port = (dropper.address() as net.AddressInfo).port;
    api = await startPublisherApi({
      databaseUrl: `postgres://u:p@127.0.0.1:${port}/collector`,
      host: '127.0.0.1',
      port: 0,
      bodyLimit: 1024,
      logLevel: 'silent',
    });
  });
  afterAll(async () => {
    await api.stop();
    await new Promise((r) => dropper.close(r));
  });

  it('when the connection is cut', async () => {
    const res = await postDatum(api.url, { x: 1 });
    expect(res.status).toBe(503);
    expect((await http(`${api.url}/ready`)).status).toBe(503);
  });
});
