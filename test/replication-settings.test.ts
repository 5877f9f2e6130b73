/**
 * The subscriber's logical replication worker and origin limits grow with the publisher count
 * (collector/cluster.ts, subscriberSettings). With the fixed limits of before, a subscriber with
 * more publishers than worker slots logged "out of logical replication worker slots" and left the
 * subscriptions beyond the limit without an apply worker: their rows never arrived.
 *
 * This file runs a local collector of its own with 5 publishers: 5 × 4 = 20 workers, above the
 * floor of 16, so the limits it reports come from the formula and not from the floor.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllNow, subscriberSettings } from '../collector/cluster.js';
import { type LocalCollector, startLocalCollector } from '../collector/local.js';
import { freeRange } from '../common/ports.js';
import { waitFor, withClient } from './helpers.js';
import { scratchDir } from './sweep.js';

const PUBLISHERS = 5;

describe('subscriberSettings', () => {
  it('keeps the floors for a few publishers, and grows with more', () => {
    expect(subscriberSettings(0)).toEqual([
      'max_logical_replication_workers=16',
      'max_active_replication_origins=32',
      'max_worker_processes=32',
    ]);
    expect(subscriberSettings(4)).toEqual(subscriberSettings(0));
    expect(subscriberSettings(20)).toEqual([
      'max_logical_replication_workers=80',
      'max_active_replication_origins=40',
      'max_worker_processes=96',
    ]);
  });
});

describe(`a local collector with ${PUBLISHERS} publishers`, () => {
  let dir: string;
  let c: LocalCollector | undefined;

  beforeAll(async () => {
    process.once('exit', killAllNow);
    dir = await scratchDir('settings');
    const base = await freeRange(PUBLISHERS + 1);
    c = await startLocalCollector({
      dataDir: path.join(dir, 'collector'),
      publishers: PUBLISHERS,
      pgPorts: {
        subscriber: base,
        publishers: Array.from({ length: PUBLISHERS }, (_, i) => base + 1 + i),
      },
      httpPorts: { gateway: 0, publishers: Array.from({ length: PUBLISHERS }, () => 0) },
      adminPassword: 'test-admin-password',
      bodyLimit: 1024 * 1024,
      logLevel: 'silent',
    });
  }, 180_000);

  afterAll(async () => {
    await c?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs its subscriber with limits for that many publishers', async () => {
    const settings = await withClient(c?.subscriberAdminUrl as string, async (db) => {
      const { rows } = await db.query<{ name: string; setting: string }>(
        `SELECT name, setting FROM pg_settings WHERE name IN
           ('max_logical_replication_workers', 'max_active_replication_origins',
            'max_worker_processes')`,
      );
      return Object.fromEntries(rows.map((r) => [r.name, Number(r.setting)]));
    });
    expect(settings).toEqual({
      max_logical_replication_workers: 20,
      max_active_replication_origins: 32,
      max_worker_processes: 36,
    });
  });

  it("keeps its publishers' limits at the floor (they hold no subscription)", async () => {
    const workers = await withClient(c?.publishers[0]?.adminUrl as string, async (db) => {
      const { rows } = await db.query<{ setting: string }>(
        "SELECT setting FROM pg_settings WHERE name = 'max_logical_replication_workers'",
      );
      return Number(rows[0]?.setting);
    });
    expect(workers).toBe(16);
  });

  it('replicates a row from every publisher', async () => {
    for (const p of c?.publishers ?? []) {
      await withClient(p.adminUrl, (db) =>
        db.query(`INSERT INTO data (data) VALUES ('{"settings-test": true}')`),
      );
    }
    const arrived = await waitFor(
      `a row from each of the ${PUBLISHERS} publishers`,
      () =>
        withClient(c?.subscriberAdminUrl as string, async (db) => {
          const { rows } = await db.query<{ n: number }>(
            `SELECT count(DISTINCT publisher)::int AS n FROM data WHERE data ? 'settings-test'`,
          );
          return rows[0]?.n === PUBLISHERS ? rows[0].n : undefined;
        }),
      60_000,
    );
    expect(arrived).toBe(PUBLISHERS);
  }, 90_000);
});
