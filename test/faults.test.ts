/**
 * The fault suite: a collector of its own (3 publishers, each service in its own supervised
 * process) under continuous HTTP writes, while PostgreSQL servers and service processes are
 * killed, sessions are terminated, the subscriber stays down while WAL piles up, and poison
 * bodies arrive. Afterwards the subscriber must hold exactly the acknowledged rows: nothing
 * missing, nothing duplicated. It prints a table (scenario, acknowledged, present, missing,
 * duplicates, recovery time).
 *
 * `npm test` runs it in a short form; `npm run test:faults` (COLLECTOR_FAULTS=full) runs each
 * phase longer, with more rounds.
 */
import { rm } from 'node:fs/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCollector, startLocalCollector } from '../collector/local.js';
import { freeRange } from '../common/ports.js';
import { ReadLoad, WriteLoad } from './fault-load.js';
import { http, uniqueTag, waitFor } from './helpers.js';
import { scratchDir } from './sweep.js';

const FULL = process.env.COLLECTOR_FAULTS === 'full';
/** Load before and after each fault. */
const PHASE_MS = FULL ? 10_000 : 2_000;
const SUBSCRIBER_DOWN_MS = FULL ? 20_000 : 4_000;
const TERMINATE_ROUNDS = FULL ? 10 : 4;
const ADMIN_PASSWORD = 'faults-admin-password';

interface Row {
  scenario: string;
  acknowledged: number;
  present: number;
  missing: number;
  duplicates: number;
  recoveryMs: number;
  catchUpMs: number;
  retries: number;
}

const rows: Row[] = [];
let c: LocalCollector;
let dir: string;
let token: string;
const log: string[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function query<T extends pg.QueryResultRow>(
  url: string,
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Milliseconds from now until `probe` succeeds. */
async function timeUntil(what: string, probe: () => Promise<boolean>): Promise<number> {
  const began = Date.now();
  await waitFor(what, async () => ((await probe().catch(() => false)) ? true : undefined), 60_000);
  return Date.now() - began;
}

const answers = (url: string) => async () =>
  (await query(url, 'SELECT 1').then(() => true)) as boolean;
// Ready, not merely up: the process answers and its database does too.
const serves = (url: string) => async () =>
  (await http(`${url}/ready`, { signal: AbortSignal.timeout(2000) })).status === 200;

function servicePids() {
  return {
    apis: c.publishers.map((p) => p.api.pid),
    gateway: c.gateway.pid,
  };
}

/**
 * Runs one scenario: load, the fault, more load; then waits until the subscriber holds every
 * acknowledged row and compares the sets.
 */
async function scenario(
  name: string,
  fault: (load: WriteLoad) => Promise<number>,
): Promise<{ row: Row; load: WriteLoad }> {
  const run = uniqueTag('fault');
  const load = new WriteLoad(
    run,
    c.publishers.map((p) => p.url),
  ).start();
  await sleep(PHASE_MS);
  const recoveryMs = await fault(load);
  await sleep(PHASE_MS);
  await load.stop();
  const stoppedAt = Date.now();
  const acked = new Set(load.stats.acked.values());
  let present: Array<{ id: string; key: string }> = [];
  await waitFor(
    `every acknowledged row of "${name}" on the subscriber`,
    async () => {
      present = await query<{ id: string; key: string }>(
        c.subscriberAdminUrl,
        "SELECT id, data->>'key' AS key FROM data WHERE data->>'run' = $1",
        [run],
      ).catch(() => []);
      const ids = new Set(present.map((r) => r.id));
      return [...acked].every((id) => ids.has(id)) ? true : undefined;
    },
    120_000,
  ).catch(() => undefined);
  const catchUpMs = Date.now() - stoppedAt;
  const ids = new Set(present.map((r) => r.id));
  const row: Row = {
    scenario: name,
    acknowledged: acked.size,
    present: present.length,
    missing: [...acked].filter((id) => !ids.has(id)).length,
    // The same write stored twice: two rows for one write key, or a row nobody acknowledged.
    duplicates:
      present.length -
      new Set(present.map((r) => r.key)).size +
      present.filter((r) => !acked.has(r.id)).length,
    recoveryMs,
    catchUpMs,
    retries: load.stats.retries,
  };
  rows.push(row);
  expect(load.stats.unexpected).toEqual([]);
  expect(row.acknowledged).toBeGreaterThan(0);
  expect(row.missing).toBe(0);
  expect(row.duplicates).toBe(0);
  expect(row.present).toBe(row.acknowledged);
  return { row, load };
}

beforeAll(async () => {
  dir = await scratchDir('faults');
  const base = await freeRange(4);
  c = await startLocalCollector({
    dataDir: dir,
    publishers: 3,
    pgPorts: { subscriber: base, publishers: [base + 1, base + 2, base + 3] },
    httpPorts: { gateway: 0, publishers: [0, 0, 0] },
    adminPassword: ADMIN_PASSWORD,
    bodyLimit: 1024 * 1024,
    logLevel: 'silent',
    backoff: { initialMs: 100, maxMs: 2000, stableMs: 5000 },
    progress: (m) => log.push(`${new Date().toISOString()} ${m}`),
  });
  const login = await http<{ token: string }>(`${c.gatewayUrl}/login`, {
    method: 'POST',
    json: { username: 'admin', password: ADMIN_PASSWORD },
  });
  token = login.body.token;
}, 180_000);

afterAll(async () => {
  try {
    await c?.stop();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const head =
    '| scenario | acknowledged | present | missing | duplicates | recovery | catch-up | retries |';
  const lines = rows.map(
    (r) =>
      `| ${r.scenario} | ${r.acknowledged} | ${r.present} | ${r.missing} | ${r.duplicates} | ` +
      `${(r.recoveryMs / 1000).toFixed(2)} s | ${(r.catchUpMs / 1000).toFixed(2)} s | ${r.retries} |`,
  );
  console.log(
    `\nFault suite (${FULL ? 'full' : 'short'}: ${PHASE_MS / 1000} s of load before and after each fault)\n` +
      `${head}\n|---|---|---|---|---|---|---|---|\n${lines.join('\n')}\n`,
  );
}, 120_000);

describe.sequential('fault suite', { timeout: 300_000 }, () => {
  it('1. the subscriber is SIGKILLed mid-stream and the supervisor restarts it', async () => {
    const before = servicePids();
    await scenario('subscriber PostgreSQL SIGKILLed', async () => {
      const pid = c.subscriberCluster.pid as number;
      process.kill(pid, 'SIGKILL');
      return timeUntil('the subscriber to answer again', answers(c.subscriberAdminUrl));
    });
    expect(c.subscriberCluster.restarts).toBeGreaterThanOrEqual(1);
    expect(servicePids()).toEqual(before);
    expect(log.join('\n')).toMatch(/PostgreSQL subscriber died \(signal SIGKILL\); restarting/);
  });

  it('2. a publisher is SIGKILLed and restarted; the others keep flowing, no service dies', async () => {
    const before = servicePids();
    const victim = c.publishers[1];
    if (!victim) throw new Error('no publisher 2');
    let downFrom = 0;
    let downMs = 0;
    const { load } = await scenario('publisher PostgreSQL SIGKILLed', async () => {
      const restarts = victim.cluster.restarts;
      downFrom = Date.now();
      process.kill(victim.cluster.pid as number, 'SIGKILL');
      await waitFor('the publisher restart', async () =>
        victim.cluster.restarts > restarts ? true : undefined,
      );
      await timeUntil('pub2 to answer again', answers(victim.adminUrl));
      downMs = Date.now() - downFrom;
      return downMs;
    });
    for (const other of [c.publishers[0], c.publishers[2]]) {
      expect(load.ackedBetween(other?.url ?? '', downFrom, downFrom + downMs)).toBeGreaterThan(0);
    }
    expect(servicePids()).toEqual(before);
  });

  it('3. sessions are terminated again and again: walsenders, publisher APIs, gateway', async () => {
    const before = servicePids();
    const reads = new ReadLoad(c.gatewayUrl, token).start();
    await scenario('pg_terminate_backend, repeatedly', async () => {
      for (let round = 0; round < TERMINATE_ROUNDS; round++) {
        for (const p of c.publishers) {
          await query(
            p.adminUrl,
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE backend_type = 'walsender' OR application_name = 'collector-publisher-api'`,
          );
        }
        await query(
          c.subscriberAdminUrl,
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE application_name = 'collector-gateway'`,
        );
        await sleep(300);
      }
      const last = Date.now();
      await waitFor('a gateway read after the last round', async () =>
        reads.lastOkAt > last ? true : undefined,
      );
      return Date.now() - last;
    });
    await reads.stop();
    expect(reads.ok).toBeGreaterThan(0);
    expect(servicePids()).toEqual(before);
  });

  it('4. publisher API and gateway processes are killed under load; retries store nothing twice', async () => {
    const reads = new ReadLoad(c.gatewayUrl, token).start();
    const api = c.publishers[0]?.api;
    if (!api) throw new Error('no publisher 1');
    const [apiRestarts, gatewayRestarts] = [api.restarts, c.gateway.restarts];
    const [apiUrl, gatewayUrl] = [api.url, c.gateway.url];
    await scenario('API and gateway processes SIGKILLed', async () => {
      process.kill(api.pid as number, 'SIGKILL');
      process.kill(c.gateway.pid as number, 'SIGKILL');
      const began = Date.now();
      await waitFor('both restarts', async () =>
        api.restarts > apiRestarts && c.gateway.restarts > gatewayRestarts ? true : undefined,
      );
      await timeUntil('the API to serve', serves(apiUrl as string));
      await timeUntil('the gateway to serve', serves(gatewayUrl as string));
      return Date.now() - began;
    });
    await reads.stop();
    // Restarted where they were: clients keep their URLs.
    expect(api.url).toBe(apiUrl);
    expect(c.gateway.url).toBe(gatewayUrl);
    expect(log.join('\n')).toMatch(/pub1 API died \(signal SIGKILL\); restarting/);
  });

  it('5. the subscriber is down while WAL piles up, then catches up', async () => {
    let retainedBytes = 0;
    await scenario(`subscriber down ${SUBSCRIBER_DOWN_MS / 1000} s`, async () => {
      await c.subscriberCluster.stop();
      await sleep(SUBSCRIBER_DOWN_MS);
      const [slot] = await query<{ retained: string }>(
        c.publishers[0]?.adminUrl ?? '',
        'SELECT (pg_current_wal_lsn() - restart_lsn)::bigint::text AS retained FROM pg_replication_slots',
      );
      retainedBytes = Number(slot?.retained ?? 0);
      const began = Date.now();
      await c.subscriberCluster.start();
      c.subscriberCluster.supervise((m) => log.push(m), {
        initialMs: 100,
        maxMs: 2000,
        stableMs: 5000,
      });
      return Date.now() - began;
    });
    // The publishers kept the subscriber's WAL while it was away.
    expect(retainedBytes).toBeGreaterThan(0);
  });

  it('6. poison bodies amid the load are refused, and every other request succeeds', async () => {
    const before = servicePids();
    const poison = `{"data": [${Array.from({ length: 4200 }, () => '1e131071').join(',')}]}`;
    const statuses: number[] = [];
    await scenario('poison bodies amid the load', async () => {
      for (let i = 0; i < 5; i++) {
        for (const p of c.publishers) {
          const res = await http(`${p.url}/data`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: poison,
          });
          statuses.push(res.status);
        }
      }
      return 0;
    });
    expect(new Set(statuses)).toEqual(new Set([400]));
    expect(servicePids()).toEqual(before);
    const page = await http(`${c.gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      json: { query: '{ data(first: 50) { nodes { id data } } }' },
    });
    expect(page.status).toBe(200);
  });
});
