/**
 * `npm start` as a user runs it: the real CLI process on a fresh data directory, with 3 publishers
 * (COLLECTOR_PUBLISHERS), then a refused second start, a clean stop that leaves no postgres
 * process, and a restart that keeps data, users, tokens and replication.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../collector/cluster.js';
import { freeRange } from '../common/ports.js';
import { CLI, runCli } from './cli-process.js';
import { http, uniqueTag, waitFor } from './helpers.js';

interface Started {
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  exited: Promise<number | null>;
}

let dataDir: string;
let env: Record<string, string>;
let pgBase: number;
let pubBase: number;
let gatewayPort: number;
const running: Started[] = [];

function start(): Promise<Started> {
  const child = spawn(process.execPath, [CLI, 'start'], { env: { ...process.env, ...env } });
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
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready after 90 s:\n${out}`)), 90_000);
    child.stdout.on('data', () => {
      if (out.includes('Press Ctrl-C to stop.')) {
        clearTimeout(timer);
        resolve(started);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ready:\n${out}`));
    });
  });
}

async function postmasterPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const name of ['subscriber', 'pub1', 'pub2', 'pub3']) {
    const text = await readFile(path.join(dataDir, name, 'postmaster.pid'), 'utf8').catch(() => '');
    if (text) pids.push(Number(text.split('\n')[0]));
  }
  return pids;
}

async function stop(s: Started, signal: NodeJS.Signals): Promise<number | null> {
  s.child.kill(signal);
  return s.exited;
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'collector-start-'));
  await chmod(dataDir, 0o755);
  [pgBase, pubBase, gatewayPort] = [await freeRange(4), await freeRange(4), await freeRange(1)];
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
  for (const pid of await postmasterPids()) if (isAlive(pid)) process.kill(pid, 'SIGINT');
  await waitFor('postmasters to exit', async () =>
    (await postmasterPids()).some(isAlive) ? undefined : true,
  );
  await rm(dataDir, { recursive: true, force: true });
});

describe('npm start', () => {
  let password: string;
  let token: string;
  let id: string;
  const gateway = () => `http://127.0.0.1:${gatewayPort}`;

  it('boots 3 publishers and the subscriber, and prints where everything is', async () => {
    const s = await start();
    const out = s.output();
    password = /User "admin", password: (\S+)/.exec(out)?.[1] ?? '';
    expect(password.length).toBeGreaterThanOrEqual(16);
    expect(out).toContain(`pub3   http://localhost:${pubBase + 3}`);
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
  });

  it('refuses a second start on the same data directory, clearly', async () => {
    const second = await runCli(['start'], { env });
    expect(second.code).toBe(3);
    expect(second.stderr).toMatch(/already running from .* \(process \d+\)/);
  });

  it('stops on SIGTERM and leaves no postgres process behind', async () => {
    const s = running[0] as Started;
    const pids = await postmasterPids();
    expect(pids).toHaveLength(4);
    expect(pids.every(isAlive)).toBe(true);
    expect(await stop(s, 'SIGTERM')).toBe(0);
    expect(s.output()).toContain('Stopped.');
    expect(pids.filter(isAlive)).toEqual([]);
  });

  it('restarts with everything kept: data, admin, tokens, replication', async () => {
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
  });

  async function datum(datumId: string) {
    const res = await http<{ data?: { datum: { id: string; publisher: string } | null } }>(
      `${gateway()}/graphql`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          query: 'query($id: UUID!) { datum(id: $id) { id publisher } }',
          variables: { id: datumId },
        }),
      },
    );
    return res.body.data?.datum ?? undefined;
  }
});
