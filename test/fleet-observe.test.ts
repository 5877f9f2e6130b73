/**
 * The gateway's view of the fleet, on a collector of this file's own (2 publishers), its gateway a
 * real child process logging JSON: /metrics read with a Prometheus text parser, the `publishers`
 * query, and the log line of a state change, while states are caused for real (ALTER SUBSCRIPTION
 * … DISABLE, a publisher's PostgreSQL stopped). The shared test collector is never touched.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCollector, startLocalCollector } from '../collector/local.js';
import { createKysely } from '../common/db.js';
import { freeRange } from '../common/ports.js';
import type { SubscriberDB } from '../subscriber-graphql/db.js';
import { createUser } from '../subscriber-graphql/services/users.js';
import { http, waitFor, withClient } from './helpers.js';
import { type PrometheusFamily as Family, parseMetrics, sample } from './prometheus.js';
import { scratchDir } from './sweep.js';

let c: LocalCollector;
let dir: string;
/** Every line the collector's processes wrote (the gateway's are JSON). */
const lines: string[] = [];
const ADMIN_PASSWORD = 'fleet-observe-admin-password';
const USER = 'fleet-observe-user';
const USER_PASSWORD = 'fleet-observe-user-password';

async function scrape(): Promise<Family[]> {
  const res = await http(`${c.gatewayUrl}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(res.text);
}

const stateOf = (families: Family[], publisher: string) =>
  families
    .find((f) => f.name === 'collector_publisher_state')
    ?.metrics.find((m) => m.labels?.publisher === publisher && m.value === '1')?.labels?.state;

async function waitMetricState(publisher: string, state: string): Promise<Family[]> {
  let last: string | undefined;
  try {
    return await waitFor(
      `${publisher} to be ${state} in /metrics`,
      async () => {
        const families = await scrape();
        last = stateOf(families, publisher);
        return last === state ? families : undefined;
      },
      30_000,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}; last state: ${last}`);
  }
}

/** The gateway's JSON log lines that say a publisher changed state. */
function stateChanges(): Array<{
  publisher: string;
  from: string | null;
  to: string;
  reason: string | null;
}> {
  const out = [];
  for (const line of lines) {
    const json = line.slice(line.indexOf('{'));
    try {
      const entry = JSON.parse(json);
      if (entry.msg === 'publisher state changed') out.push(entry);
    } catch {
      // not a JSON line
    }
  }
  return out;
}

async function token(username: string, password: string): Promise<string> {
  const res = await http<{ token: string }>(`${c.gatewayUrl}/login`, {
    method: 'POST',
    json: { username, password },
  });
  if (res.status !== 200) throw new Error(`login failed: ${res.text}`);
  return res.body.token;
}

async function gql(query: string, bearer?: string, headers: Record<string, string> = {}) {
  return http<{
    data?: Record<string, unknown> | null;
    errors?: Array<{ message: string; extensions?: { code?: string } }>;
  }>(`${c.gatewayUrl}/graphql`, {
    method: 'POST',
    headers: { ...headers, ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    json: { query },
  });
}

beforeAll(async () => {
  dir = await scratchDir('fleet-observe');
  const base = await freeRange(3);
  // The gateway asks the publishers for their slots and lag as collector_lag: npm start's path
  // gives that role a password and passes its URLs to the gateway (nothing is set up here).
  c = await startLocalCollector({
    dataDir: dir,
    publishers: 2,
    pgPorts: { subscriber: base, publishers: [base + 1, base + 2] },
    httpPorts: { gateway: 0, publishers: [0, 0] },
    adminPassword: ADMIN_PASSWORD,
    bodyLimit: 1024 * 1024,
    logLevel: 'info',
    env: {
      COLLECTOR_MONITOR_INTERVAL: '1s',
      NODE_ENV: 'development',
    },
    progress: (line) => lines.push(line),
  });
  const db = createKysely<SubscriberDB>(c.subscriberAdminUrl, { applicationName: 'test' });
  try {
    await createUser(db, USER, USER_PASSWORD);
  } finally {
    await db.destroy();
  }
}, 120_000);

afterAll(async () => {
  try {
    await c?.stop();
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
});

describe.sequential('the fleet on the gateway', { timeout: 90_000 }, () => {
  it('/metrics: every publisher streaming, with its lag, rows and counters', async () => {
    await withClient(c.publishers[0]?.adminUrl as string, (db) =>
      db.query(`INSERT INTO data (data) VALUES ('{"from":"fleet-observe"}')`),
    );
    await waitMetricState('pub1', 'streaming');
    const families = await waitMetricState('pub2', 'streaming');
    for (const publisher of ['pub1', 'pub2']) {
      for (const state of [
        'catching up',
        'unreachable',
        'stopped by error',
        'disabled',
        'slot lost',
      ]) {
        expect(sample(families, 'collector_publisher_state', { publisher, state })?.value).toBe(
          '0',
        );
      }
      // Asked as collector_lag (COLLECTOR_PUBLISHER_MONITOR_URLS, set by npm start's path): a
      // number, not absent, in bytes and in seconds (pg_stat_replication, through
      // collector_slot_lag: that login has no pg_read_all_stats).
      for (const name of ['collector_publisher_lag_bytes', 'collector_publisher_lag_seconds']) {
        const lag = sample(families, name, { publisher });
        expect(lag?.value, `${name} of ${publisher}`).toBeDefined();
        expect(Number(lag?.value)).toBeGreaterThanOrEqual(0);
      }
      expect(sample(families, 'collector_publisher_apply_errors_total', { publisher })?.value).toBe(
        '0',
      );
      expect(
        sample(families, 'collector_publisher_conflicts_total', {
          publisher,
          type: 'insert_exists',
        })?.value,
      ).toBe('0');
    }
    await waitFor('pub1 rows received to count the insert', async () => {
      const v = sample(await scrape(), 'collector_publisher_rows_received_total', {
        publisher: 'pub1',
      });
      return Number(v?.value) >= 1 ? true : undefined;
    });
    expect(sample(families, 'collector_fleet_monitor_up', {})?.value).toBe('1');
    // The family types are Prometheus's.
    expect(families.find((f) => f.name === 'collector_publisher_state')?.type).toBe('GAUGE');
    expect(families.find((f) => f.name === 'collector_publisher_apply_errors_total')?.type).toBe(
      'COUNTER',
    );
  });

  it('publishers: admins get every field; other users FORBIDDEN, anonymous UNAUTHENTICATED', async () => {
    const query = `query FleetProbe { publishers { name subscription state reason enabled lastMessageAt
      secondsSinceLastMessage lagBytes lagSeconds rowsReceived applyErrorCount syncErrorCount
      conflicts { type count } failedTransaction { finishLsn error at } publisherError } }`;
    const admin = await gql(query, await token('admin', ADMIN_PASSWORD));
    expect(admin.body.errors).toBeUndefined();
    const list = admin.body.data?.publishers as Array<Record<string, unknown>>;
    expect(list.map((p) => [p.name, p.state])).toEqual([
      ['pub1', 'STREAMING'],
      ['pub2', 'STREAMING'],
    ]);
    for (const p of list) {
      expect(p.subscription).toBe(`collector_${p.name}`);
      expect(p.reason).toBeNull();
      expect(typeof p.lagBytes).toBe('number');
      // collector_slot_lag reads pg_stat_replication as its owner: a number, not unknown.
      expect(p.lagSeconds).toBeTypeOf('number');
      expect(p.publisherError).toBeNull();
      expect(p.conflicts).toContainEqual({ type: 'insert_exists', count: 0 });
      expect(p.failedTransaction).toBeNull();
    }
    expect((list[0] as { rowsReceived: number }).rowsReceived).toBeGreaterThanOrEqual(1);

    const user = await gql(query, await token(USER, USER_PASSWORD));
    expect(user.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(user.body.errors?.[0]?.message).toMatch(/Only an admin/);
    expect(user.status).toBe(403);
    const anonymous = await gql(query);
    expect(anonymous.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(anonymous.status).toBe(401);
  });

  it('the GraphQL histogram counts an operation by its name; odd names are bounded', async () => {
    const count = async () =>
      Number(
        sample(await scrape(), 'collector_graphql_request_duration_seconds_count', {
          operation: 'CountMe',
          type: 'query',
        })?.value ?? 0,
      );
    const before = await count();
    const bearer = await token('admin', ADMIN_PASSWORD);
    await gql('query CountMe { me { username } }', bearer);
    await gql('query CountMe { me { username } }', bearer);
    expect(await count()).toBe(before + 2);
    const families = await scrape();
    expect(
      sample(families, 'collector_graphql_requests_total', {
        operation: 'CountMe',
        type: 'query',
        outcome: 'ok',
      })?.value,
    ).toBe(String(before + 2));
    await gql('{ me { username } }', bearer);
    await gql('query Broken {', bearer);
    const after = await scrape();
    expect(
      sample(after, 'collector_graphql_requests_total', { operation: '_anonymous' }),
    ).toBeDefined();
    expect(
      sample(after, 'collector_graphql_requests_total', {
        operation: '_unparsed',
        outcome: 'error',
      }),
    ).toBeDefined();
  });

  it('ALTER SUBSCRIPTION … DISABLE: disabled in /metrics and the query, and one log line', async () => {
    await withClient(c.subscriberAdminUrl, (db) =>
      db.query('ALTER SUBSCRIPTION collector_pub2 DISABLE'),
    );
    try {
      const families = await waitMetricState('pub2', 'disabled');
      expect(
        sample(families, 'collector_publisher_state', { publisher: 'pub2', state: 'streaming' })
          ?.value,
      ).toBe('0');
      expect(stateOf(families, 'pub1')).toBe('streaming');
      await waitFor('the state change in the log', async () =>
        stateChanges().some((l) => l.publisher === 'pub2' && l.to === 'disabled')
          ? true
          : undefined,
      );
      expect(stateChanges().find((l) => l.to === 'disabled')).toMatchObject({
        publisher: 'pub2',
        from: 'streaming',
        to: 'disabled',
        reason: 'disabled by ALTER SUBSCRIPTION … DISABLE',
      });
      const res = await gql(
        '{ publishers { name state reason } }',
        await token('admin', ADMIN_PASSWORD),
      );
      expect(res.body.data?.publishers).toContainEqual({
        name: 'pub2',
        state: 'DISABLED',
        reason: 'disabled by ALTER SUBSCRIPTION … DISABLE',
      });
    } finally {
      await withClient(c.subscriberAdminUrl, (db) =>
        db.query('ALTER SUBSCRIPTION collector_pub2 ENABLE'),
      );
    }
    await waitMetricState('pub2', 'streaming');
    // The child's output arrives a moment after the monitor acted.
    const changes = await waitFor('the change back in the log', async () => {
      const mine = stateChanges().filter((l) => l.publisher === 'pub2');
      return mine.length >= 3 ? mine : undefined;
    });
    expect(changes.map((l) => [l.from, l.to])).toEqual([
      [null, 'streaming'],
      ['streaming', 'disabled'],
      ['disabled', 'streaming'],
    ]);
  });

  it("a publisher's PostgreSQL stopped: unreachable, its lag unknown, and a scrape still answers at once", async () => {
    const pub2 = c.publishers[1] as LocalCollector['publishers'][number];
    await pub2.cluster.stop();
    try {
      const families = await waitMetricState('pub2', 'unreachable');
      // Not asked, so no sample rather than a false 0.
      expect(
        sample(families, 'collector_publisher_lag_bytes', { publisher: 'pub2' }),
      ).toBeUndefined();
      expect(
        Number(sample(families, 'collector_publisher_lag_bytes', { publisher: 'pub1' })?.value),
      ).toBeGreaterThanOrEqual(0);
      const began = performance.now();
      await scrape();
      expect(performance.now() - began).toBeLessThan(2000);
      // The gateway's log line arrives a moment after /metrics shows the state (a child's
      // output): wait for it rather than read the line before it.
      const change = await waitFor('the change to unreachable in the log', async () => {
        const last = stateChanges().at(-1);
        return last?.publisher === 'pub2' && last.to === 'unreachable' ? last : undefined;
      });
      expect(change).toMatchObject({ publisher: 'pub2', from: 'streaming', to: 'unreachable' });
      // The stream broke (disable_on_error disabled the subscription), or it could not connect.
      expect(change.reason).toMatch(
        /could not (connect to the publisher|receive data from WAL stream|send end-of-streaming message)/,
      );
      // The monitor re-enables a subscription stopped by a broken stream: one log line, counted.
      await waitFor('the re-enable log line', async () =>
        lines.some((l) => l.includes('publisher subscription re-enabled after its stream broke'))
          ? true
          : undefined,
      );
      const after = await scrape();
      expect(
        Number(sample(after, 'collector_publisher_reenabled_total', { publisher: 'pub2' })?.value),
      ).toBeGreaterThanOrEqual(1);
    } finally {
      await pub2.cluster.start();
    }
    await waitMetricState('pub2', 'streaming');
  });

  it('without collector_monitor the gateway degrades clearly: monitor down, the query says why', async () => {
    const drop = (db: import('pg').Client) =>
      db.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'collector-gateway-monitor'",
      );
    await withClient(c.subscriberAdminUrl, async (db) => {
      await db.query('REVOKE collector_monitor FROM collector_gateway');
      await drop(db);
    });
    try {
      await waitFor('collector_fleet_monitor_up 0', async () =>
        sample(await scrape(), 'collector_fleet_monitor_up')?.value === '0' ? true : undefined,
      );
      const res = await gql('{ publishers { name } }', await token('admin', ADMIN_PASSWORD));
      expect(res.status).toBe(503);
      expect(res.body.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
      expect(res.body.errors?.[0]?.message).toMatch(
        /permission denied to set role "collector_monitor".*SET ROLE collector_monitor \(sql\/subscriber\/022_monitor\.sql/,
      );
      // Everything else is served as before.
      expect((await http(`${c.gatewayUrl}/ready`)).status).toBe(200);
    } finally {
      await withClient(c.subscriberAdminUrl, (db) =>
        db.query('GRANT collector_monitor TO collector_gateway WITH INHERIT FALSE, SET TRUE'),
      );
    }
    await waitFor('collector_fleet_monitor_up 1', async () =>
      sample(await scrape(), 'collector_fleet_monitor_up')?.value === '1' ? true : undefined,
    );
  });

  it('rows that cannot be counted leave the rest of the status standing: unknown, no sample', async () => {
    const rowsOf = async (publisher: string) =>
      sample(await scrape(), 'collector_publisher_rows_received_total', { publisher });
    await withClient(c.subscriberAdminUrl, (db) =>
      db.query('REVOKE SELECT (received_at, id) ON data FROM collector_monitor'),
    );
    try {
      await waitFor('no rows sample, the monitor up', async () => {
        const families = await scrape();
        const rows = sample(families, 'collector_publisher_rows_received_total', {
          publisher: 'pub1',
        });
        return rows === undefined && sample(families, 'collector_fleet_monitor_up')?.value === '1'
          ? true
          : undefined;
      });
      const res = await gql(
        '{ publishers { name state rowsReceived } }',
        await token('admin', ADMIN_PASSWORD),
      );
      expect(res.body.data?.publishers).toEqual([
        { name: 'pub1', state: 'STREAMING', rowsReceived: null },
        { name: 'pub2', state: 'STREAMING', rowsReceived: null },
      ]);
    } finally {
      await withClient(c.subscriberAdminUrl, (db) =>
        db.query('GRANT SELECT (received_at, id) ON data TO collector_monitor'),
      );
    }
    await waitFor('pub1 rows counted again', async () =>
      Number((await rowsOf('pub1'))?.value) >= 1 ? true : undefined,
    );
  });

  it('a count held up (a lock on data) leaves the status served within the timeout, rows unknown', async () => {
    const admin = await token('admin', ADMIN_PASSWORD);
    await withClient(c.subscriberAdminUrl, async (db) => {
      await db.query('BEGIN');
      await db.query('LOCK TABLE data IN ACCESS EXCLUSIVE MODE');
      try {
        // Half the monitor's timeout (8 s) for the count, then the status without it.
        const list = await waitFor(
          'the publishers served with their rows unknown',
          async () => {
            const res = await gql('{ publishers { name state rowsReceived } }', admin);
            const got = res.body.data?.publishers as Array<{
              name: string;
              rowsReceived: number | null;
            }>;
            return got?.every((p) => p.rowsReceived === null) ? got : undefined;
          },
          20_000,
        );
        expect(list.map((p) => p.name)).toEqual(['pub1', 'pub2']);
        expect(sample(await scrape(), 'collector_fleet_monitor_up')?.value).toBe('1');
      } finally {
        await db.query('ROLLBACK');
      }
    });
    await waitFor('pub1 rows counted again', async () => {
      const v = sample(await scrape(), 'collector_publisher_rows_received_total', {
        publisher: 'pub1',
      });
      return Number(v?.value) >= 1 ? true : undefined;
    });
  });

  it('JSON request logs carry the X-Request-Id sent, and the response returns it', async () => {
    const id = `fleet-observe-${Date.now()}`;
    const res = await http(`${c.gatewayUrl}/health`, { headers: { 'x-request-id': id } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe(id);
    await waitFor('the request in the log', async () =>
      lines.some((l) => l.includes(`"reqId":"${id}"`)) ? true : undefined,
    );
    const logged = lines.find((l) => l.includes(`"reqId":"${id}"`)) as string;
    expect(JSON.parse(logged.slice(logged.indexOf('{')))).toMatchObject({ reqId: id, level: 30 });
  });
});
