/**
 * Measures, in one run on a fresh local collector:
 *   - the time `startLocalCollector` takes from nothing (initdb) and again on existing data;
 *   - baseline: a direct INSERT … RETURNING into a publisher over pg (the API's own role);
 *   - POST /data over HTTP (the publisher API) on the same publisher;
 *   - insert → visible: from sending POST /data until the row can be read on the subscriber.
 * Ratios are against the baseline from the same run (these machines are noisy).
 *
 *   npm run bench:replication [-- --samples 500]
 */
import 'reflect-metadata';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { killAllNow } from '../collector/cluster.js';
import { type LocalCollector, startLocalCollector } from '../collector/local.js';
import { freeRange } from '../common/ports.js';
import { postJson, stats, table } from './lib.js';
import { readOptions } from './options.js';

const { samples: SAMPLES } = readOptions(
  'bench:replication',
  'Start-up time of the local collector, a direct INSERT against POST /data on one publisher, and\n' +
    'the time from POST /data until the row can be read on the subscriber.',
  { samples: { description: 'timed inserts per case', default: 500, min: 1 } },
);
const WARMUP = 50;

async function boot(dataDir: string, pgPorts: number[]): Promise<[LocalCollector, number]> {
  const t0 = performance.now();
  const c = await startLocalCollector({
    dataDir,
    publishers: 2,
    pgPorts: { subscriber: pgPorts[0] as number, publishers: pgPorts.slice(1) },
    httpPorts: { gateway: 0, publishers: [0, 0] },
    adminPassword: 'bench-admin-password',
    bodyLimit: 1024 * 1024,
    logLevel: 'silent',
  });
  return [c, performance.now() - t0];
}

async function main() {
  // Whatever ends this process, the PostgreSQL servers it started end with it.
  process.once('exit', killAllNow);
  const dataDir = await mkdtemp(path.join(tmpdir(), 'collector-bench-'));
  await chmod(dataDir, 0o755);
  const base = await freeRange(3);
  const pgPorts = [base, base + 1, base + 2];
  let collector: LocalCollector | undefined;
  try {
    process.stderr.write('booting a fresh collector (initdb)...\n');
    const [first, freshMs] = await boot(dataDir, pgPorts);
    await first.stop();
    process.stderr.write('booting it again on its data...\n');
    const [c, restartMs] = await boot(dataDir, pgPorts);
    collector = c;
    const pub = c.publishers[0];
    if (!pub) throw new Error('no publisher');

    const direct = new pg.Client({ connectionString: pub.apiDatabaseUrl });
    const sub = new pg.Client({ connectionString: c.subscriberAdminUrl });
    await direct.connect();
    await sub.connect();
    const body = (i: number) => JSON.stringify({ data: { email: 'john@email.com', amount: i } });

    const insertDirect = async (i: number) => {
      const t0 = performance.now();
      // The same statement the API sends, unprepared as Kysely sends it.
      await direct.query(
        `INSERT INTO data (data) SELECT ($1::jsonb) -> 'data' RETURNING id, publisher, data::text, created_at`,
        [body(i)],
      );
      return performance.now() - t0;
    };
    const post = async (i: number): Promise<[number, string]> => {
      const t0 = performance.now();
      const res = await postJson(`${pub.url}/data`, body(i));
      if (res.status !== 201) throw new Error(`POST failed: ${res.status} ${res.text}`);
      return [performance.now() - t0, (JSON.parse(res.text) as { id: string }).id];
    };
    const untilVisible = async (i: number) => {
      const t0 = performance.now();
      const [, id] = await post(i);
      for (;;) {
        const { rowCount } = await sub.query({
          name: 'seen',
          text: 'SELECT 1 FROM data WHERE id = $1',
          values: [id],
        });
        if (rowCount) return performance.now() - t0;
        if (performance.now() - t0 > 10_000) throw new Error(`row ${id} not visible after 10 s`);
      }
    };

    const run = async (name: string, fn: (i: number) => Promise<number>) => {
      process.stderr.write(`${name}: ${WARMUP} warm-up + ${SAMPLES} samples\n`);
      for (let i = 0; i < WARMUP; i++) await fn(i);
      const out: number[] = [];
      for (let i = 0; i < SAMPLES; i++) out.push(await fn(i));
      return stats(out);
    };
    // Interleave nothing: each measurement runs alone, sequentially (concurrency 1).
    const base = await run('direct INSERT', insertDirect);
    const http = await run('POST /data', async (i) => (await post(i))[0]);
    const visible = await run('insert → visible', untilVisible);
    await direct.end();
    await sub.end();

    const rows = [
      ['direct INSERT over pg (baseline)', base],
      ['POST /data over HTTP', http],
      ['POST /data → visible on subscriber', visible],
    ] as const;
    console.log(
      `\nThe Collector, replication latency: ${SAMPLES} sequential samples each, ${new Date().toISOString()}`,
    );
    console.log(
      `node ${process.version}, PostgreSQL 18 (embedded), 2 publishers + subscriber on 127.0.0.1\n`,
    );
    console.log(
      table(
        ['measure', 'p50 ms', 'p95 ms', 'p99 ms', 'mean ms', 'p50 vs baseline'],
        rows.map(([name, s]) => [
          name,
          s.p50.toFixed(2),
          s.p95.toFixed(2),
          s.p99.toFixed(2),
          s.mean.toFixed(2),
          `${(s.p50 / base.p50).toFixed(1)}x`,
        ]),
      ),
    );
    console.log(
      `\nstart from nothing (initdb, schema, replication): ${(freshMs / 1000).toFixed(2)} s`,
    );
    console.log(
      `start again on existing data:                     ${(restartMs / 1000).toFixed(2)} s`,
    );
  } finally {
    await collector?.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
