/**
 * secrets.json across versions: a data directory from before per-cluster superuser passwords (one
 * `superuserPassword` for every cluster) still starts, its clusters keep the password they were
 * created with, and a cluster added later gets its own.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type LocalCollector,
  type LocalSecrets,
  secretsFile,
  startLocalCollector,
} from '../collector/local.js';
import { freeRange } from '../common/ports.js';
import { scratchDir } from './sweep.js';

let dir: string;
let running: LocalCollector | undefined;

beforeAll(async () => {
  dir = await scratchDir('secrets');
  pgBase = await freeRange(3);
});

afterAll(async () => {
  await running?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

let pgBase: number;

async function start(
  publishers: number,
  more: { maxSlotWalKeepSize?: string; progress?: (m: string) => void } = {},
): Promise<LocalCollector> {
  running = await startLocalCollector({
    ...more,
    dataDir: dir,
    publishers,
    pgPorts: {
      subscriber: pgBase,
      publishers: Array.from({ length: publishers }, (_, i) => pgBase + 1 + i),
    },
    httpPorts: { gateway: 0, publishers: Array.from({ length: publishers }, () => 0) },
    adminPassword: 'secrets-test-admin-password',
    bodyLimit: 1024 * 1024,
    logLevel: 'silent',
  });
  return running;
}

async function stop(): Promise<void> {
  await running?.stop();
  running = undefined;
}

async function opens(url: string, password: string): Promise<boolean> {
  const u = new URL(url);
  u.password = encodeURIComponent(password);
  const c = new pg.Client({ connectionString: u.toString() });
  c.on('error', () => {});
  try {
    await c.connect();
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === '28P01') return false;
    throw e;
  } finally {
    await c.end().catch(() => {});
  }
}

const readJson = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as LocalSecrets;

describe('secrets.json from before per-cluster superuser passwords', () => {
  it('keeps the shared password for the clusters created with it; a new cluster gets its own', async () => {
    // Make the old layout: both clusters share one superuser password, and the file has only it.
    let c = await start(1);
    const fresh = await readJson(secretsFile(dir));
    const shared = fresh.superuserPasswords.subscriber as string;
    const pub1 = c.publishers[0] as { adminUrl: string };
    const admin = new pg.Client({ connectionString: pub1.adminUrl });
    await admin.connect();
    await admin.query(`ALTER ROLE postgres PASSWORD ${admin.escapeLiteral(shared)}`);
    await admin.end();
    await stop();
    const { superuserPasswords: _, ...rest } = fresh;
    await writeFile(secretsFile(dir), JSON.stringify({ ...rest, superuserPassword: shared }), {
      mode: 0o600,
    });

    // Started again with one more publisher.
    c = await start(2);
    const migrated = await readJson(secretsFile(dir));
    expect(migrated.superuserPassword).toBe(shared);
    expect(migrated.superuserPasswords.subscriber).toBe(shared);
    expect(migrated.superuserPasswords.pub1).toBe(shared);
    const own = migrated.superuserPasswords.pub2 as string;
    expect(own).toMatch(/^[\w-]{32}$/);
    expect(own).not.toBe(shared);
    const [p1, p2] = c.publishers.map((p) => ({ adminUrl: p.adminUrl })) as [
      { adminUrl: string },
      { adminUrl: string },
    ];
    expect(await opens(c.subscriberAdminUrl, shared)).toBe(true);
    expect(await opens(p1.adminUrl, shared)).toBe(true);
    expect(await opens(p2.adminUrl, own)).toBe(true);
    expect(await opens(p2.adminUrl, shared)).toBe(false);
    await stop();
  }, 120_000);
});

describe('setup on publishers it cannot fully secure', () => {
  it('warns about a publisher whose slots may keep WAL without bound', async () => {
    const said: string[] = [];
    await start(2, { maxSlotWalKeepSize: '-1', progress: (m) => said.push(m) });
    await stop();
    for (const name of ['pub1', 'pub2']) {
      expect(said).toContainEqual(
        expect.stringMatching(
          new RegExp(
            `^warning: publisher ${name} has max_slot_wal_keep_size = -1: .*postgresql\\.conf`,
          ),
        ),
      );
    }
    // The default bound: no warning.
    said.length = 0;
    await start(2, { progress: (m) => said.push(m) });
    await stop();
    expect(said.filter((m) => m.startsWith('warning:'))).toEqual([]);
  }, 120_000);
});
