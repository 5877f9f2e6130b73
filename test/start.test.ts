/**
 * `npm start` as a user runs it: the real CLI process on a fresh data directory, with 3 publishers
 * (COLLECTOR_PUBLISHERS), then a refused second start, a clean stop that leaves no postgres
 * process, a restart that keeps data, users, tokens and replication, recovery after kill -9, and
 * Ctrl-C in the middle of a first start.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../collector/cluster.js';
import { freeRange, portIsFree } from '../common/ports.js';
import { CLI, runCli } from './cli-process.js';
import { http, uniqueTag, waitFor } from './helpers.js';
import { recordLauncher, scratchDir } from './sweep.js';

interface Started {
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  exited: Promise<number | null>;
}

const BOOT_TIMEOUT = 120_000;
let dataDir: string;
let env: Record<string, string>;
let pgBase: number;
let pubBase: number;
let gatewayPort: number;
const running: Started[] = [];
const dirs: string[] = [];

function launch(extraEnv: Record<string, string> = {}): Started {
  assertRunnerAlive();
  const fullEnv = { ...process.env, ...env, ...extraEnv };
  const child = spawn(process.execPath, [CLI, 'start'], { env: fullEnv });
  recordLauncher(fullEnv.COLLECTOR_DATA_DIR as string, child.pid);
  let out = '';
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
  });
  child.stderr.on('data', (b: Buffer) => {
    out += b.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const started: Started = { child, output: () => out, exited };
  running.push(started);
  return started;
}

/** Resolves once the output contains `text`; rejects if the process exits first. */
function waitForOutput(s: Started, text: string, timeoutMs = BOOT_TIMEOUT): Promise<Started> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no "${text}" after ${timeoutMs} ms:\n${s.output()}`)),
      timeoutMs,
    );
    const check = () => {
      if (s.output().includes(text)) {
        clearTimeout(timer);
        s.child.stdout.off('data', check);
        resolve(s);
      }
    };
    s.child.stdout.on('data', check);
    check();
    void s.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before "${text}":\n${s.output()}`));
    });
  });
}

const start = (extraEnv: Record<string, string> = {}) =>
  waitForOutput(launch(extraEnv), 'Press Ctrl-C to stop.');

async function postmasterPids(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const text = await readFile(path.join(dir, name, 'postmaster.pid'), 'utf8').catch(() => '');
    if (text) pids.push(Number(text.split('\n')[0]));
  }
  return pids;
}

/** Processes whose command line mentions `dir`: postmasters, their children, launchers. */
async function processesUsing(dir: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmd = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(dir) && isAlive(Number(entry))) found.push(Number(entry));
  }
  return found;
}

async function stop(s: Started, signal: NodeJS.Signals): Promise<number | null> {
  s.child.kill(signal);
  return s.exited;
}

/** Starts nothing once the main vitest process is gone (an orphaned worker runs on). */
function assertRunnerAlive(): void {
  if (process.send !== undefined && !process.connected) throw new Error('the test run has ended');
}

/** If this worker is ended early (Ctrl-C, timeout), ask the launchers it spawned to stop. */
function stopLaunchersNow(): void {
  for (const s of running) if (s.child.exitCode === null) s.child.kill('SIGTERM');
}

beforeAll(async () => {
  process.once('exit', stopLaunchersNow);
  // The main vitest process is gone (Ctrl-C, timeout): this worker may run on, so stop ours now.
  process.once('disconnect', stopLaunchersNow);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      stopLaunchersNow();
      process.kill(process.pid, signal);
    });
  }
  dataDir = await scratchDir('start');
  dirs.push(dataDir);
  // One block of free ports below the ephemeral range: 5 PostgreSQL (a 4th publisher joins in a
  // restart), 4 APIs, the gateway.
  const base = await freeRange(11);
  [pgBase, pubBase, gatewayPort] = [base, base + 5, base + 10];
  env = {
    COLLECTOR_DATA_DIR: dataDir,
    COLLECTOR_PUBLISHERS: '3',
    COLLECTOR_PG_PORT_BASE: String(pgBase),
    COLLECTOR_PUBLISHER_PORT_BASE: String(pubBase),
    COLLECTOR_GATEWAY_PORT: String(gatewayPort),
    COLLECTOR_ADMIN_PASSWORD: '',
    COLLECTOR_JWT_SECRET: '',
  };
});

afterAll(async () => {
  // Whatever happened above, stop what this file started: the CLI processes, then any postmaster
  // they left (by the PIDs in their own data directories).
  for (const s of running) {
    if (s.child.exitCode === null && s.child.signalCode === null) await stop(s, 'SIGTERM');
  }
  for (const dir of dirs) {
    for (const pid of await postmasterPids(dir)) if (isAlive(pid)) process.kill(pid, 'SIGINT');
    await waitFor('postmasters to exit', async () =>
      (await postmasterPids(dir)).some(isAlive) ? undefined : true,
    );
    await rm(dir, { recursive: true, force: true });
  }
}, BOOT_TIMEOUT);

describe('npm start', () => {
  let password: string;
  let token: string;
  let id: string;
  const gateway = () => `http://127.0.0.1:${gatewayPort}`;

  async function datum(datumId: string, bearer = token) {
    const res = await http<{ data?: { datum: { id: string; publisher: string } | null } }>(
      `${gateway()}/graphql`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          query: 'query($id: UUID!) { datum(id: $id) { id publisher } }',
          variables: { id: datumId },
        }),
      },
    );
    return res.body.data?.datum ?? undefined;
  }

  async function loginStatus(pw: string): Promise<number> {
    const res = await http(`${gateway()}/login`, {
      method: 'POST',
      json: { username: 'admin', password: pw },
    });
    return res.status;
  }

  it(
    'boots 3 publishers and the subscriber, and prints where everything is',
    async () => {
      const s = await start();
      const out = s.output();
      password = /User "admin", password: (\S+)/.exec(out)?.[1] ?? '';
      expect(password.length).toBeGreaterThanOrEqual(16);
      expect(out).toContain(`pub3   http://localhost:${pubBase + 3}`);
      expect(out).toContain('Mode: development');
      expect(out).toContain(`http://localhost:${gatewayPort}/graphql`);
      expect(out).toContain(
        `curl -H "Content-Type: application/json" -X POST -d '{"data": {"email":"john@email.com","amount":123}}' http://localhost:${pubBase + 1}/data/`,
      );
      expect(out).toContain(
        `curl -d "username=admin" -d "password=${password}" -X POST http://localhost:${gatewayPort}/login/`,
      );

      const tag = uniqueTag('start');
      const res = await http<{ id: string; publisher: string }>(
        `http://127.0.0.1:${pubBase + 3}/data/`,
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ data: { tag } }),
        },
      );
      expect(res.status).toBe(201);
      expect(res.body.publisher).toBe('pub3');
      id = res.body.id;

      const login = await http<{ token: string }>(`${gateway()}/login/`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `username=admin&password=${encodeURIComponent(password)}`,
      });
      expect(login.status).toBe(200);
      token = login.body.token;
      await waitFor('the pub3 row on the subscriber', () => datum(id));
    },
    BOOT_TIMEOUT,
  );

  it('refuses a second start on the same data directory, clearly', async () => {
    assertRunnerAlive();
    const second = await runCli(['start'], { env });
    expect(second.code).toBe(3);
    expect(second.stderr).toMatch(/already running from .* \(process \d+\)/);
  });

  it('stops on SIGTERM and leaves no postgres process behind', async () => {
    const s = running[0] as Started;
    const pids = await postmasterPids(dataDir);
    expect(pids).toHaveLength(4);
    expect(pids.every(isAlive)).toBe(true);
    expect(await stop(s, 'SIGTERM')).toBe(0);
    expect(s.output()).toContain('Stopped.');
    expect(pids.filter(isAlive)).toEqual([]);
    expect(await processesUsing(dataDir)).toEqual([]);
    // The service processes are gone too: nothing listens on their ports.
    for (const port of [gatewayPort, pubBase + 1, pubBase + 2, pubBase + 3]) {
      expect(await portIsFree(port)).toBe(true);
    }
    // Each PostgreSQL server was shut down cleanly (fast shutdown and a final checkpoint), not
    // killed: an immediate shutdown would leave crash recovery for the next start.
    for (const name of ['subscriber', 'pub1', 'pub2', 'pub3']) {
      const log = await readFile(path.join(dataDir, name, 'postgresql.log'), 'utf8');
      const requests = log.match(/received (smart|fast|immediate) shutdown request/g) ?? [];
      expect(requests.at(-1)).toBe('received fast shutdown request');
      expect(log.trimEnd().split('\n').at(-1)).toMatch(/database system is shut down/);
    }
  });

  it(
    'restarts with everything kept: data, admin, tokens, replication',
    async () => {
      const s = await start();
      expect(s.output()).toContain('User "admin" exists');
      expect(s.output()).not.toContain(password);
      // The token from before the restart still works (the signing key is kept).
      expect(await datum(id)).toMatchObject({ id, publisher: 'pub3' });
      const res = await http<{ id: string }>(`http://127.0.0.1:${pubBase + 1}/data`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"data": "after restart"}',
      });
      expect(res.status).toBe(201);
      await waitFor('a row stored after the restart to replicate', () => datum(res.body.id));
      expect(await stop(s, 'SIGINT')).toBe(0);
    },
    BOOT_TIMEOUT,
  );

  it(
    'recovers after kill -9, and COLLECTOR_ADMIN_PASSWORD resets the admin password',
    async () => {
      const killed = await start();
      const orphans = await postmasterPids(dataDir);
      expect(await stop(killed, 'SIGKILL')).toBe(null);
      // kill -9 gives the launcher no chance: its PostgreSQL servers are still running.
      expect(orphans.filter(isAlive)).toHaveLength(4);

      const s = await start({ COLLECTOR_ADMIN_PASSWORD: 'a-new-admin-password' });
      expect(s.output()).toMatch(/left running by an earlier start/);
      expect(orphans.filter(isAlive)).toEqual([]);
      expect(await loginStatus('a-new-admin-password')).toBe(200);
      expect(await loginStatus(password)).toBe(401);
      // The new password ended admin's earlier tokens; a new one reads the data kept.
      expect(await datum(id)).toBeUndefined();
      const login = await http<{ token: string }>(`${gateway()}/login`, {
        method: 'POST',
        json: { username: 'admin', password: 'a-new-admin-password' },
      });
      expect(await datum(id, login.body.token)).toMatchObject({ id, publisher: 'pub3' });
      expect(await stop(s, 'SIGTERM')).toBe(0);
      expect(await processesUsing(dataDir)).toEqual([]);
    },
    BOOT_TIMEOUT,
  );

  it(
    'NODE_ENV=production npm start runs the services in production mode, and says so',
    async () => {
      const s = await start({ NODE_ENV: 'production', COLLECTOR_MAX_SLOT_WAL_KEEP_SIZE: '2GB' });
      try {
        const out = s.output();
        expect(out).toContain('Mode: production (NODE_ENV=production)');
        expect(out).toContain(`Subscriber GraphQL: http://localhost:${gatewayPort}/graphql `);
        expect(out).not.toContain('Apollo Sandbox');
        const page = await http(`${gateway()}/graphql`, { headers: { accept: 'text/html' } });
        expect(page.text).not.toMatch(/sandbox/i);
        expect((await http(`${gateway()}/graphiql`)).status).toBe(404);
        const introspection = await http<{ errors?: Array<{ message: string }> }>(
          `${gateway()}/graphql`,
          { method: 'POST', json: { query: '{ __schema { queryType { name } } }' } },
        );
        expect(introspection.status).toBe(400);
        expect(introspection.body.errors?.[0]?.message).toMatch(/introspection is not allowed/i);
        // The key the first start generated into the data dir signs tokens here too: no
        // COLLECTOR_JWT_SECRET was needed.
        const login = await http<{ token: string }>(`${gateway()}/login`, {
          method: 'POST',
          json: { username: 'admin', password: 'a-new-admin-password' },
        });
        expect(login.status).toBe(200);
        expect(await datum(id, login.body.token)).toMatchObject({ id, publisher: 'pub3' });
        // COLLECTOR_MAX_SLOT_WAL_KEEP_SIZE reaches the publishers.
        const secrets = JSON.parse(await readFile(path.join(dataDir, 'secrets.json'), 'utf8'));
        const pub1 = new pg.Client({
          connectionString: `postgres://postgres:${encodeURIComponent(secrets.superuserPasswords.pub1)}@127.0.0.1:${pgBase + 1}/collector`,
        });
        await pub1.connect();
        try {
          const { rows } = await pub1.query('SHOW max_slot_wal_keep_size');
          expect(rows[0]?.max_slot_wal_keep_size).toBe('2GB');
        } finally {
          await pub1.end();
        }
      } finally {
        if (s.child.exitCode === null) expect(await stop(s, 'SIGTERM')).toBe(0);
      }
    },
    BOOT_TIMEOUT,
  );

  it(
    'a restart with a larger COLLECTOR_PUBLISHERS adds the new publisher (publishers add), keeping all data',
    async () => {
      const s = await start({ COLLECTOR_PUBLISHERS: '4' });
      try {
        const out = s.output();
        expect(out).toContain('pub4: wal_level = logical');
        expect(out).toContain('subscription collector_pub4 → pub4: created');
        expect(out).toContain('subscription collector_pub1 → pub1: unchanged');
        expect(out).toContain(`pub4   http://localhost:${pubBase + 4}`);
        const created = await http<{ id: string; publisher: string }>(
          `http://127.0.0.1:${pubBase + 4}/data`,
          { method: 'POST', json: { data: { joined: 'pub4' } } },
        );
        expect(created.status).toBe(201);
        expect(created.body.publisher).toBe('pub4');
        const login = await http<{ token: string }>(`${gateway()}/login`, {
          method: 'POST',
          json: { username: 'admin', password: 'a-new-admin-password' },
        });
        // The new publisher's row arrives, and the first start's row is still there.
        await waitFor('the pub4 row on the subscriber', () =>
          datum(created.body.id, login.body.token),
        );
        expect(await datum(id, login.body.token)).toMatchObject({ id, publisher: 'pub3' });
        const list = await runCli(['publishers', 'list', '--json'], { env });
        expect(JSON.parse(list.stdout).map((p: { name: string }) => p.name)).toEqual([
          'pub1',
          'pub2',
          'pub3',
          'pub4',
        ]);
      } finally {
        if (s.child.exitCode === null) expect(await stop(s, 'SIGTERM')).toBe(0);
      }
    },
    BOOT_TIMEOUT,
  );

  it(
    'stops cleanly on Ctrl-C in the middle of a first start',
    async () => {
      const fresh = await scratchDir('start-abort');
      dirs.push(fresh);
      const s = await waitForOutput(
        launch({ COLLECTOR_DATA_DIR: fresh, COLLECTOR_PUBLISHERS: '1' }),
        'PostgreSQL 18 running',
      );
      expect(await stop(s, 'SIGINT')).toBe(0);
      expect(s.output()).toContain('Stopped.');
      expect(s.output()).not.toContain('Press Ctrl-C to stop.');
      expect(await processesUsing(fresh)).toEqual([]);
    },
    BOOT_TIMEOUT,
  );
});
