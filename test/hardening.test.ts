/**
 * Nothing takes a service down: slow or endless requests are cut off, connections are capped, a
 * statement that runs too long answers 504, a connection dropped mid-query answers 503 and the
 * process lives on, an outage does not lock users out afterwards, introspection floods are
 * refused, and annotation bodies keep their numbers exactly.
 */

import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { getIntrospectionQuery } from 'graphql';
import jwt from 'jsonwebtoken';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKysely } from '../common/db.js';
import { migrate } from '../common/migrate.js';
import type { RunningService } from '../common/service.js';
import {
  adminToken,
  collector,
  gql,
  http,
  postDatum,
  replicatedDatum,
  startTestApi,
  startTestGateway,
  uniqueTag,
  waitFor,
  withClient,
} from './helpers.js';
import { TcpProxy } from './tcp-proxy.js';

const pub = () =>
  collector().publishers[0] as { url: string; adminUrl: string; apiDatabaseUrl: string };

async function rowsTagged(tag: string): Promise<number> {
  return withClient(pub().adminUrl, async (c) => {
    const { rows } = await c.query<{ n: string }>(
      "SELECT count(*) AS n FROM data WHERE data->>'tag' = $1",
      [tag],
    );
    return Number(rows[0]?.n);
  });
}

/** Opens a raw TCP connection; resolves with everything received once the server closes it. */
function rawConnection(port: number): {
  socket: net.Socket;
  closed: Promise<{ text: string; afterMs: number }>;
} {
  const began = Date.now();
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  socket.on('data', (b) => {
    text += b.toString();
  });
  socket.on('error', () => {});
  const closed = new Promise<{ text: string; afterMs: number }>((resolve) =>
    socket.on('close', () => resolve({ text, afterMs: Date.now() - began })),
  );
  return { socket, closed };
}

const portOf = (url: string) => Number(new URL(url).port);

describe('HTTP timeouts', () => {
  let api: RunningService;
  beforeAll(async () => {
    api = await startTestApi({
      requestTimeoutMs: 1500,
      headersTimeoutMs: 1000,
    });
  });
  afterAll(() => api.stop());

  it('cuts off a body sent one byte at a time with 408, and stores nothing', async () => {
    const tag = uniqueTag('slow');
    const body = JSON.stringify({ data: { tag } });
    const { socket, closed } = rawConnection(portOf(api.url));
    socket.write(
      `POST /data HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    let i = 0;
    const drip = setInterval(() => {
      if (i < body.length && !socket.destroyed) socket.write(body[i++] as string);
    }, 200);
    const { text, afterMs } = await closed;
    clearInterval(drip);
    expect(text).toMatch(/^HTTP\/1\.1 408/);
    // Cut at the request timeout (1.5 s), checked every second: well before the body was sent.
    expect(afterMs).toBeLessThan(4000);
    expect(i).toBeLessThan(body.length);
    expect(await rowsTagged(tag)).toBe(0);
    // The server itself is fine.
    expect((await postDatum(api.url, { tag })).status).toBe(201);
  });

  it('cuts off headers that never end', async () => {
    const { socket, closed } = rawConnection(portOf(api.url));
    socket.write('GET /health HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => {
      if (!socket.destroyed) socket.write('X-Slow: 1\r\n');
    }, 200);
    const { text, afterMs } = await closed;
    clearInterval(drip);
    expect(afterMs).toBeLessThan(3500);
    if (text) expect(text).toMatch(/^HTTP\/1\.1 408/);
  });
});

describe('connection cap', () => {
  let api: RunningService;
  beforeAll(async () => {
    api = await startTestApi({
      maxConnections: 5,
    });
  });
  afterAll(() => api.stop());

  it('closes connections beyond the cap at once, and serves again when one closes', async () => {
    const held = Array.from({ length: 5 }, () => rawConnection(portOf(api.url)));
    await Promise.all(
      held.map(({ socket }) => new Promise((r) => socket.once('connect', () => r(null)))),
    );
    // Give the server a moment to count them.
    await new Promise((r) => setTimeout(r, 100));
    const extra = rawConnection(portOf(api.url));
    const refused = await Promise.race([
      extra.closed,
      new Promise<'open'>((r) => setTimeout(() => r('open'), 2000)),
    ]);
    expect(refused).not.toBe('open');
    for (const { socket } of held) socket.destroy();
    await waitFor('the server to serve again', async () =>
      (await http(`${api.url}/`).catch(() => ({ status: 0 }))).status === 200 ? true : undefined,
    );
  });
});

describe('statement timeout', () => {
  it('an insert stuck behind a lock answers 504 after the timeout, and stores nothing', async () => {
    const api = await startTestApi({
      statementTimeoutMs: 300,
    });
    const tag = uniqueTag('stuck');
    try {
      await withClient(pub().adminUrl, async (c) => {
        await c.query('BEGIN');
        // SHARE blocks inserts but not reads.
        await c.query('LOCK TABLE data IN SHARE MODE');
        try {
          const began = Date.now();
          const res = await http<{ error: { code: string; message: string } }>(`${api.url}/data`, {
            method: 'POST',
            json: { data: { tag } },
          });
          expect(res.status).toBe(504);
          expect(res.body.error.code).toBe('GATEWAY_TIMEOUT');
          expect(res.body.error.message).toMatch(/statement timeout/);
          expect(Date.now() - began).toBeLessThan(3000);
        } finally {
          await c.query('ROLLBACK');
        }
      });
      expect(await rowsTagged(tag)).toBe(0);
    } finally {
      await api.stop();
    }
  });

  it('a GraphQL query stuck behind a lock answers 504 with GATEWAY_TIMEOUT', async () => {
    const gateway = await startTestGateway({
      statementTimeoutMs: 300,
    });
    try {
      await withClient(collector().subscriberAdminUrl, async (c) => {
        await c.query('BEGIN');
        await c.query('LOCK TABLE annotation IN ACCESS EXCLUSIVE MODE');
        try {
          const res = await http<{ errors?: Array<{ extensions?: { code?: string } }> }>(
            `${gateway.url}/graphql`,
            {
              method: 'POST',
              headers: { authorization: `Bearer ${await adminToken()}` },
              json: { query: '{ data(first: 1) { nodes { annotations { id } } } }' },
            },
          );
          expect(res.body.errors?.[0]?.extensions?.code).toBe('GATEWAY_TIMEOUT');
          expect(res.status).toBe(504);
        } finally {
          await c.query('ROLLBACK');
        }
      });
    } finally {
      await gateway.stop();
    }
  });
});

describe('a connection dropped mid-query', () => {
  /**
   * Runs `cut` while three inserts of an API (in this process) wait on a lock, with their
   * connections checked out of the pool. The API reaches the publisher through a relay, so exactly
   * its own sessions can be found (by client port) and cut, without touching other test files.
   */
  async function cutMidQuery(
    cut: (proxy: TcpProxy, pids: number[], watcher: pg.Client) => Promise<void>,
  ): Promise<void> {
    const proxy = new TcpProxy(portOf(pub().adminUrl));
    const url = new URL(pub().apiDatabaseUrl);
    url.port = String(await proxy.listen());
    const api = await startTestApi({
      databaseUrl: url.toString(),
    });
    try {
      await withClient(pub().adminUrl, async (c) => {
        await c.query('BEGIN');
        await c.query('LOCK TABLE data IN SHARE MODE');
        let pending: Array<Promise<{ status: number }>> = [];
        try {
          pending = Array.from({ length: 3 }, () => postDatum(api.url, { tag: uniqueTag('cut') }));
          // Another session: pg_stat_activity is a snapshot for the length of a transaction.
          await withClient(pub().adminUrl, async (watcher) => {
            // Group commit: the three requests share the statements they arrive in, so one to
            // three sessions wait on the lock; the statements cut are those.
            const pids = await waitFor('inserts waiting on the lock', async () => {
              const { rows } = await watcher.query<{ pid: number }>(
                `SELECT pid FROM pg_stat_activity
                  WHERE client_port = ANY($1::int[]) AND wait_event_type = 'Lock'`,
                [proxy.upstreamPorts()],
              );
              return rows.length >= 1 ? rows.map((r) => r.pid) : undefined;
            });
            await cut(proxy, pids, watcher);
          });
        } finally {
          await c.query('ROLLBACK');
        }
        const statuses = (await Promise.all(pending)).map((r) => r.status);
        // The requests whose statement was cut get 503; any still queued behind it (never sent)
        // go out on a fresh connection and are stored. None hangs, none is a 500.
        expect(statuses).toContain(503);
        for (const s of statuses) expect([201, 503]).toContain(s);
      });
      proxy.up();
      // Same process (this one: an unhandled 'error' event would have crashed the test worker),
      // and the pool replaced the broken connections.
      expect((await postDatum(api.url, { tag: uniqueTag('after') })).status).toBe(201);
    } finally {
      await api.stop();
      await proxy.close();
    }
  }

  it('answers 503 and keeps serving when its sessions are terminated', async () => {
    await cutMidQuery(async (_proxy, pids, watcher) => {
      await watcher.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [pids]);
    });
  });

  it('answers 503 and keeps serving when the network drops (no goodbye from the server)', async () => {
    await cutMidQuery(async (proxy) => proxy.down());
  });
});

describe('a database outage', () => {
  it('does not count against the login throttle once it ends', async () => {
    const proxy = new TcpProxy(portOf(collector().subscriberGatewayUrl));
    const port = await proxy.listen();
    const url = new URL(collector().subscriberGatewayUrl);
    url.port = String(port);
    const gateway = await startTestGateway({
      databaseUrl: url.toString(),
    });
    const login = () =>
      http(`${gateway.url}/login`, {
        method: 'POST',
        json: { username: 'admin', password: collector().adminPassword },
      });
    try {
      proxy.down();
      // More than the throttle's 10 failures per user and address.
      for (let i = 0; i < 12; i++) expect((await login()).status).toBe(503);
      proxy.up();
      expect((await login()).status).toBe(200);
    } finally {
      await gateway.stop();
      await proxy.close();
    }
  });
});

describe('introspection counts toward the query limits', () => {
  it('refuses a flood of aliased __schema fields', async () => {
    const flood = Array.from({ length: 600 }, (_, i) => `a${i}: __schema { queryType { name } }`);
    const res = await gql(`{ ${flood.join(' ')} }`);
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.message).toMatch(/more than 500 fields/);
  });

  it('refuses fan-out nested through introspection types', async () => {
    let inner = 'name';
    for (let i = 0; i < 7; i++) inner = `fields { type { ${inner} } }`;
    const res = await gql(`{ __schema { types { ${inner} } } }`);
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.message).toMatch(/deep; the limit is 12/);
  });

  it('still serves the fullest standard introspection query, as IDEs send it', async () => {
    const res = await gql(
      getIntrospectionQuery({
        descriptions: true,
        specifiedByUrl: true,
        directiveIsRepeatable: true,
        schemaDescription: true,
        inputValueDeprecation: true,
      }),
    );
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
  });
});

describe('exact numbers through the gateway', () => {
  const BIG = '12345678901234567890';
  const HUGE = '1e400';

  it('annotation bodies keep every digit, from variables and from literals', async () => {
    const token = await adminToken();
    const id = await replicatedDatum({ tag: uniqueTag('exact') });
    // From variables: the raw request text carries the digits.
    const viaVariables = await http<{ data: { annotate: { id: string } } }>(
      `${collector().gatewayUrl}/graphql`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: `{"query":"mutation($id: UUID!, $b: JSON!) { annotate(dataId: $id, body: $b) { id body } }","variables":{"id":"${id}","b":{"big":${BIG},"huge":${HUGE},"scale":1.50}}}`,
      },
    );
    expect(viaVariables.status).toBe(200);
    expect(viaVariables.text).toMatch(new RegExp(`"big": ?${BIG}`));
    const viaLiteral = await gql<{ annotate: { id: string } }>(
      `mutation { annotate(dataId: "${id}", body: {big: ${BIG}, huge: ${HUGE}, list: [${BIG}]}) { id body } }`,
      {},
      token,
    );
    expect(viaLiteral.status).toBe(200);
    expect(viaLiteral.text).toMatch(new RegExp(`"big": ?${BIG}`));
    const stored = await withClient(collector().subscriberAdminUrl, async (c) => {
      const { rows } = await c.query<{ body: string; huge: boolean }>(
        `SELECT body::text AS body, (body->'huge')::numeric = 1e400 AS huge
           FROM annotation WHERE data_id = $1 ORDER BY created_at`,
        [id],
      );
      return rows;
    });
    expect(stored).toHaveLength(2);
    for (const row of stored) {
      expect(row.body).toContain(`"big": ${BIG}`);
      expect(row.huge).toBe(true);
    }
    expect(stored[0]?.body).toContain('"scale": 1.50');
  });

  it('data is served with every digit', async () => {
    const tag = uniqueTag('exact-data');
    const res = await http<{ id: string }>(`${pub().url}/data`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"data": {"tag": "${tag}", "big": ${BIG}, "small": 1.000000000000000000001}}`,
    });
    expect(res.status).toBe(201);
    await waitFor('the datum on the gateway', async () => {
      const got = await gql(`{ datum(id: "${res.body.id}") { data } }`, {}, await adminToken());
      return (got.body.data as { datum: unknown } | undefined)?.datum ? got : undefined;
    }).then((got) => {
      expect(got.text).toContain(`"big": ${BIG}`);
      expect(got.text).toContain('"small": 1.000000000000000000001');
    });
  });
});

describe('stored values too large to write out (1e131071 stored before ingest refused it)', () => {
  // A database of its own on the subscriber's cluster, with the subscriber's schema: the poison
  // rows never appear in the pages other test files walk.
  const name = `poison_${randomUUID().replaceAll('-', '')}`;
  const url = collector().subscriberAdminUrl.replace(/\/[^/]*$/, `/${name}`);
  let gateway: RunningService;
  const ids = { good: randomUUID(), poison: randomUUID() };

  beforeAll(async () => {
    await withClient(collector().subscriberAdminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
    const db = createKysely<unknown>(url, { applicationName: 'test' });
    try {
      await migrate(db, 'subscriber');
    } finally {
      await db.destroy();
    }
    await withClient(url, async (c) => {
      // 4,200 numbers of 131,072 digits each once written out: 550 million characters.
      const poison = `(SELECT jsonb_agg(1e131071::numeric) FROM generate_series(1, 4200))`;
      await c.query(
        `INSERT INTO data (id, publisher, data, created_at) VALUES
           ($1, 'pub1', '{"fine": 12345678901234567890}', now()),
           ($2, 'pub1', ${poison}, now() - interval '1 second')`,
        [ids.good, ids.poison],
      );
      // The shared collector's admin token works here too: the same user id and session.
      const admin = jwt.decode(await adminToken(), { json: true }) as { sub: string; sv: number };
      await c.query(
        `INSERT INTO app_user (id, username, password_hash, role, session_version)
         VALUES ($1, 'admin', 'scrypt$', 'admin', $2)`,
        [admin.sub, admin.sv],
      );
      await c.query(
        `INSERT INTO annotation (data_id, body, author) VALUES ($1, ${poison}, 'admin'), ($1, '{"ok": true}', 'admin')`,
        [ids.good],
      );
    });
    gateway = await startTestGateway({ databaseUrl: url });
  });

  afterAll(async () => {
    await gateway?.stop();
    await withClient(collector().subscriberAdminUrl, (c) =>
      c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
    );
  });

  it('a page answers with an error on that field of that row, and serves the rest', async () => {
    const res = await http<{
      data: {
        data: {
          nodes: Array<{ id: string; data: unknown; annotations: Array<{ body: unknown }> }>;
        };
      };
      errors: Array<{
        message: string;
        path: Array<string | number>;
        extensions: { code: string };
      }>;
    }>(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await adminToken()}` },
      json: { query: '{ data(first: 10) { nodes { id data annotations { body } } } }' },
    });
    expect(res.status).toBe(200);
    const [good, poison] = res.body.data.data.nodes;
    expect(good?.id).toBe(ids.good);
    expect(res.text).toContain('"fine": 12345678901234567890');
    expect(poison?.id).toBe(ids.poison);
    expect(poison?.data).toBeNull();
    const bodies = good?.annotations.map((a) => a.body) ?? [];
    expect(bodies).toHaveLength(2);
    expect(bodies).toContainEqual({ ok: true });
    const poisonBody = bodies.indexOf(null);
    expect(poisonBody).toBeGreaterThanOrEqual(0);
    expect(res.body.errors.map((e) => e.extensions.code)).toEqual([
      'TOO_LARGE_TO_SERVE',
      'TOO_LARGE_TO_SERVE',
    ]);
    expect(res.body.errors.map((e) => e.path.join('.')).sort()).toEqual([
      `data.nodes.0.annotations.${poisonBody}.body`,
      'data.nodes.1.data',
    ]);
    expect(res.body.errors[0]?.message).toMatch(/more than 4 MiB once written out/);
  });

  it('datum(id) of the row answers the same, and the gateway keeps serving', async () => {
    const again = await http<{
      data: { datum: { id: string; data: unknown } };
      errors: Array<{ extensions: { code: string } }>;
    }>(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await adminToken()}` },
      json: { query: `{ datum(id: "${ids.poison}") { id data } }` },
    });
    expect(again.body.data.datum, again.text).toEqual({ id: ids.poison, data: null });
    expect(again.body.errors[0]?.extensions.code).toBe('TOO_LARGE_TO_SERVE');
    expect((await http(`${gateway.url}/health`)).status).toBe(200);
  });

  it('annotate refuses a body that would expand like that, with 400', async () => {
    const res = await http<{ errors: Array<{ message: string; extensions: { code: string } }> }>(
      `${collector().gatewayUrl}/graphql`,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${await adminToken()}`,
          'content-type': 'application/json',
        },
        body: `{"query": "mutation($b: JSON!) { annotate(dataId: \\"${ids.good}\\", body: $b) { id } }", "variables": {"b": [${Array.from({ length: 100 }, () => '1e131071').join(',')}]}}`,
      },
    );
    expect(res.status).toBe(400);
    expect(res.body.errors[0]?.extensions.code).toBe('BAD_USER_INPUT');
  });
});

describe('requests nested thousands of levels deep', () => {
  const nested = (depth: number, open: string, close: string) =>
    `${open.repeat(depth)}{}${close.repeat(depth)}`;

  it('a deep filter in variables is refused with BAD_USER_INPUT; 250 nested ands still run', async () => {
    const token = await adminToken();
    const send = (depth: number) =>
      http<{ errors?: Array<{ message: string; extensions: { code: string } }> }>(
        `${collector().gatewayUrl}/graphql`,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: `{"query":"query($f: DataFilter) { data(first: 1, filter: $f) { nodes { id } } }","variables":{"f":${nested(depth, '{"and":[', ']}')}}}`,
        },
      );
    const deep = await send(3000);
    expect(deep.status).toBe(400);
    expect(deep.body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    expect(deep.body.errors?.[0]?.message).toMatch(/Variable "\$f" nests deeper than 512 levels/);
    expect((await send(250)).status).toBe(200);
  });

  it('a deep literal answers 400 saying so', async () => {
    const res = await gql(
      `{ data(first: 1, filter: ${nested(3000, '{and: [', ']}')}) { nodes { id } } }`,
      {},
      await adminToken(),
    );
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.message).toMatch(/nests too deeply to be read/);
    expect((await http(`${collector().gatewayUrl}/health`)).status).toBe(200);
  });
});
