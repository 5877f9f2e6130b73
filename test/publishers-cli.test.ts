/**
 * `collector publishers list | status | resume`, run as real processes against a collector of
 * this file's own (2 publishers): the states are caused for real (ALTER SUBSCRIPTION … DISABLE,
 * the same UUID on the subscriber and then on a publisher), and the shared test collector is never
 * touched.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCollector, startLocalCollector } from '../collector/local.js';
import { freeRange } from '../common/ports.js';
import { CLI, runCli } from './cli-process.js';
import { waitFor, withClient } from './helpers.js';
import { scratchDir } from './sweep.js';

let c: LocalCollector;
let dir: string;
let env: Record<string, string>;
let base: number;

interface Status {
  name: string;
  state: string;
  reason: string | null;
  enabled: boolean;
  rowsReceived: number;
  applyErrorCount: number;
  conflicts: Record<string, number>;
  failedTransaction: { finishLsn: string | null; error: string } | null;
  brokenStream: boolean;
  lagBytes: number | null;
  workerPid: number | null;
}

const cli = (args: string[]) => runCli(args, { env });

async function status(): Promise<Status[]> {
  const res = await cli(['publishers', 'status', '--json']);
  if (res.code !== 0) throw new Error(`status failed (${res.code}): ${res.stderr}`);
  return JSON.parse(res.stdout) as Status[];
}

async function stateOf(name: string): Promise<Status> {
  const s = (await status()).find((p) => p.name === name);
  if (!s) throw new Error(`no status for ${name}`);
  return s;
}

async function waitState(name: string, state: string, timeoutMs = 20_000): Promise<Status> {
  let last: Status | undefined;
  try {
    return await waitFor(
      `${name} to be ${state}`,
      async () => {
        last = await stateOf(name);
        return last.state === state ? last : undefined;
      },
      timeoutMs,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}; last status: ${JSON.stringify(last)}`);
  }
}

const pub = (i: number) => c.publishers[i] as LocalCollector['publishers'][number];

async function insertOnPublisher(i: number, id = randomUUID()): Promise<string> {
  await withClient(pub(i).adminUrl, (db) =>
    db.query(`INSERT INTO data (id, data) VALUES ($1, '{"from":"publishers-cli"}')`, [id]),
  );
  return id;
}

async function onSubscriber(id: string): Promise<boolean> {
  return withClient(c.subscriberAdminUrl, async (db) => {
    const { rowCount } = await db.query('SELECT 1 FROM data WHERE id = $1', [id]);
    return Boolean(rowCount);
  });
}

const arrives = (id: string) =>
  waitFor(`row ${id} on the subscriber`, async () => ((await onSubscriber(id)) ? true : undefined));

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" (npm test does)`);
  dir = await scratchDir('publishers');
  base = await freeRange(3);
  c = await startLocalCollector({
    dataDir: dir,
    publishers: 2,
    pgPorts: { subscriber: base, publishers: [base + 1, base + 2] },
    httpPorts: { gateway: 0, publishers: [0, 0] },
    adminPassword: 'publishers-admin-password',
    bodyLimit: 1024 * 1024,
    logLevel: 'silent',
    // The gateway's fleet monitor re-enables subscriptions stopped by a broken stream, and must
    // leave every other disabled subscription alone: it runs every second here.
    env: { COLLECTOR_MONITOR_INTERVAL: '1s' },
  });
  env = {
    COLLECTOR_SUBSCRIBER_ADMIN_URL: c.subscriberAdminUrl,
    COLLECTOR_PUBLISHER_ADMIN_URLS: c.publishers.map((p) => `${p.name}=${p.adminUrl}`).join(','),
  };
}, 120_000);

afterAll(async () => {
  try {
    await c?.stop();
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
});

describe.sequential('collector publishers', { timeout: 90_000 }, () => {
  it('list: every publisher, enabled, conninfo without its password', async () => {
    const res = await cli(['publishers', 'list', '--json']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const list = JSON.parse(res.stdout) as Array<Record<string, unknown>>;
    expect(list.map((p) => p.name)).toEqual(['pub1', 'pub2']);
    for (const p of list) {
      expect(p.enabled).toBe(true);
      // A conflict stops it cleanly; a broken stream's stop is undone by the fleet monitor.
      expect(p.disableOnError).toBe(true);
      expect(p.conninfo).toContain('user=');
      expect(p.conninfo).not.toMatch(/password/);
    }
    const human = await cli(['publishers', 'list']);
    if (process.env.SHOW_CLI) console.log(human.stdout);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^NAME\s+ENABLED\s+CONNINFO/);
    expect(human.stdout).toMatch(/\npub2\s+yes\s+host=/);
    expect(human.stdout).not.toContain(c.subscriberAdminUrl);
  });

  it('status: streaming, with rows received matching the subscriber and the lag', async () => {
    await arrives(await insertOnPublisher(0));
    await arrives(await insertOnPublisher(1));
    await arrives(await insertOnPublisher(1));
    for (const name of ['pub1', 'pub2']) await waitState(name, 'streaming');
    const counts = await withClient(c.subscriberAdminUrl, async (db) => {
      const { rows } = await db.query<{ publisher: string; n: number }>(
        'SELECT publisher, count(*)::int AS n FROM data GROUP BY publisher',
      );
      return Object.fromEntries(rows.map((r) => [r.publisher, r.n]));
    });
    const all = await status();
    expect(all.map((s) => [s.name, s.rowsReceived])).toEqual([
      ['pub1', counts.pub1],
      ['pub2', counts.pub2],
    ]);
    expect(counts.pub2).toBeGreaterThanOrEqual(2);
    for (const s of all) {
      expect(s.reason).toBeNull();
      expect(typeof s.lagBytes).toBe('number');
      expect(s.conflicts).toHaveProperty('insert_exists', 0);
    }
    const human = await cli(['publishers', 'status']);
    if (process.env.SHOW_CLI) console.log(human.stdout);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^PUBLISHER\s+STATE\s+LAST MESSAGE\s+LAG\s+ROWS/);
    expect(human.stdout).toMatch(/\npub1\s+streaming\s/);
  });

  it('ALTER SUBSCRIPTION … DISABLE shows as disabled; resume re-enables it', async () => {
    await withClient(c.subscriberAdminUrl, (db) =>
      db.query('ALTER SUBSCRIPTION collector_pub2 DISABLE'),
    );
    try {
      const s = await waitState('pub2', 'disabled');
      if (process.env.SHOW_CLI) console.log((await cli(['publishers', 'status'])).stdout);
      expect(s.enabled).toBe(false);
      expect(s.failedTransaction).toBeNull();
      // An operator's DISABLE stays: the fleet monitor (every second) does not undo it.
      await new Promise((r) => setTimeout(r, 2500));
      expect((await stateOf('pub2')).state).toBe('disabled');
      expect((await stateOf('pub1')).state).toBe('streaming');
      const res = await cli(['publishers', 'resume', 'pub2']);
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      expect(res.stdout).toContain('Subscription collector_pub2 enabled.');
      await waitState('pub2', 'streaming');
    } finally {
      await withClient(c.subscriberAdminUrl, (db) =>
        db.query('ALTER SUBSCRIPTION collector_pub2 ENABLE'),
      );
    }
    await arrives(await insertOnPublisher(1));
  });

  it('a duplicate key stops one subscription with its error; resume --skip-failed-transaction restores the flow, and the other publisher never stops', async () => {
    // The same UUID on two publishers: pub2's row arrives first, pub1's then conflicts with it.
    const dup = randomUUID();
    await insertOnPublisher(1, dup);
    await arrives(dup);
    await insertOnPublisher(0, dup);
    const stopped = await waitState('pub1', 'stopped by error');
    // disable_on_error: the conflict disables the subscription once, cleanly, instead of failing
    // again every few seconds; the fleet monitor (every second) leaves it so.
    expect(stopped.enabled).toBe(false);
    expect(stopped.brokenStream).toBe(false);
    expect(stopped.workerPid).toBeNull();
    await new Promise((r) => setTimeout(r, 2500));
    const still = await stateOf('pub1');
    expect(still.state).toBe('stopped by error');
    expect(still.enabled).toBe(false);
    expect(still.applyErrorCount).toBe(stopped.applyErrorCount);
    expect(stopped.reason).toMatch(/insert_exists|duplicate key/);
    expect(stopped.failedTransaction?.finishLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(stopped.applyErrorCount).toBeGreaterThanOrEqual(1);
    expect(stopped.conflicts.insert_exists).toBeGreaterThanOrEqual(1);
    const human = await cli(['publishers', 'status']);
    if (process.env.SHOW_CLI) console.log(human.stdout);
    expect(human.stdout).toMatch(/\npub1\s+stopped by error\s/);
    expect(human.stdout).toContain(
      `failing transaction finished at ${stopped.failedTransaction?.finishLsn}`,
    );

    // The other publisher flows on, and pub1's later rows wait behind the failed transaction.
    await arrives(await insertOnPublisher(1));
    expect((await stateOf('pub2')).state).toBe('streaming');
    const after = await insertOnPublisher(0);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await onSubscriber(after)).toBe(false);

    const res = await cli(['publishers', 'resume', 'pub1', '--skip-failed-transaction']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(
      `Skipped the transaction that finished at ${stopped.failedTransaction?.finishLsn} on pub1`,
    );
    expect(res.stdout).toContain('Subscription collector_pub1 enabled.');
    if (process.env.SHOW_CLI) console.log(res.stdout);
    await arrives(after);
    await waitState('pub1', 'streaming');
    // pub2's row stayed; pub1's copy was skipped.
    const kept = await withClient(c.subscriberAdminUrl, async (db) => {
      const { rows } = await db.query('SELECT publisher FROM data WHERE id = $1', [dup]);
      return rows;
    });
    expect(kept).toEqual([{ publisher: 'pub2' }]);
    expect((await stateOf('pub2')).state).toBe('streaming');
    await arrives(await insertOnPublisher(1));
  });

  it('a stopped publisher is unreachable, with the reason from the worker, then streams again', async () => {
    await pub(1).cluster.stop();
    try {
      const s = await waitState('pub2', 'unreachable');
      // The broken stream disabled it (disable_on_error), or the monitor has already re-enabled it.
      expect(s.reason).toMatch(
        /could not (connect to the publisher|receive data from WAL stream|send end-of-streaming message)/,
      );
      // Re-enabled by the gateway's fleet monitor, the worker keeps trying to connect by itself.
      const retrying = await waitFor('pub2 re-enabled, retrying its connection', async () => {
        const now = await stateOf('pub2');
        return now.enabled && /could not connect to the publisher/.test(now.reason ?? '')
          ? now
          : undefined;
      });
      expect(retrying.state).toBe('unreachable');
      expect(retrying.brokenStream).toBe(false);
      expect((await stateOf('pub1')).state).toBe('streaming');
      if (process.env.SHOW_CLI) console.log((await cli(['publishers', 'status'])).stdout);
    } finally {
      await pub(1).cluster.start();
    }
    await waitState('pub2', 'streaming');
    await arrives(await insertOnPublisher(1));
  });

  it('a slot dropped on the publisher is slot lost', async () => {
    await withClient(c.subscriberAdminUrl, (db) =>
      db.query('ALTER SUBSCRIPTION collector_pub2 DISABLE'),
    );
    await waitState('pub2', 'disabled');
    // The walsender may take a moment to release the slot after the worker stops.
    await waitFor('the slot to be dropped', () =>
      withClient(pub(1).adminUrl, (db) =>
        db.query("SELECT pg_drop_replication_slot('collector_pub2')").then(
          () => true,
          () => undefined,
        ),
      ),
    );
    try {
      const s = await waitState('pub2', 'slot lost');
      expect(s.reason).toContain('slot collector_pub2 is missing on the publisher');
      expect((await stateOf('pub1')).state).toBe('streaming');
    } finally {
      // Nothing was written on pub2 meanwhile, so a new slot loses nothing.
      await withClient(pub(1).adminUrl, (db) =>
        db.query("SELECT pg_create_logical_replication_slot('collector_pub2', 'pgoutput')"),
      );
      await withClient(c.subscriberAdminUrl, (db) =>
        db.query('ALTER SUBSCRIPTION collector_pub2 ENABLE'),
      );
    }
    await waitState('pub2', 'streaming');
    await arrives(await insertOnPublisher(1));
  });

  it('status --watch redraws until interrupted', async () => {
    const child = spawn(process.execPath, [CLI, 'publishers', 'status', '--watch', '0.5'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const exited = new Promise((r) => child.once('exit', r));
    try {
      await waitFor('three redraws', async () =>
        out.split('Ctrl-C to stop').length > 3 ? true : undefined,
      );
    } finally {
      child.kill('SIGINT');
      await exited;
    }
    expect(out).toContain('\x1b[2J');
    expect(out).toMatch(/\npub1\s+streaming\s/);
  });

  it("finds the local collector (npm start's) by COLLECTOR_DATA_DIR and COLLECTOR_PG_PORT_BASE", async () => {
    const res = await runCli(['publishers', 'status', '--json'], {
      env: {
        COLLECTOR_DATA_DIR: dir,
        COLLECTOR_PG_PORT_BASE: String(base),
        COLLECTOR_SUBSCRIBER_ADMIN_URL: '',
        COLLECTOR_PUBLISHER_ADMIN_URLS: '',
      },
    });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const all = JSON.parse(res.stdout) as Status[];
    expect(all.map((s) => s.name)).toEqual(['pub1', 'pub2']);
    // The publishers were asked too, with the local superuser passwords.
    for (const s of all) expect(typeof s.lagBytes).toBe('number');
  });

  it('resume on a running subscription changes nothing; bad input is a clear error', async () => {
    const again = await cli(['publishers', 'resume', 'pub1']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('was already enabled: nothing to re-enable');
    const unknown = await cli(['publishers', 'resume', 'nosuch']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no publisher "nosuch": the publishers are pub1, pub2');
    const watch = await cli(['publishers', 'status', '--watch', 'often']);
    expect(watch.code).toBe(2);
    expect(watch.stderr).toContain('--watch takes a number of seconds');
    const help = await cli(['publishers', '--help']);
    expect(help.stdout).toContain('--skip-failed-transaction');
  });
});
