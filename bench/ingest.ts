/**
 * Ingest throughput of a publisher API against PostgreSQL's own ceiling, in one run:
 *
 *   1. boots a fresh local collector (1 publisher, the API in its own process, as deployed);
 *   2. single row: pgbench's prepared `INSERT … RETURNING` into the same table (or, without
 *      pgbench, the same prepared statement driven from Node with `pg`) against `POST /data` under
 *      autocannon, at each concurrency, alternating which goes first in each round;
 *   3. batches: `POST /data/batch` of 100 and 1,000 rows (autocannon) against raw COPY of the same
 *      rows into the same table (psql's `\copy`; without psql, 1,000-row multi-row INSERTs from
 *      Node), alternating too;
 *   4. around each measurement, waits until the subscriber has every row (and reports how long
 *      that took after the measurement): a side that outruns replication would otherwise leave
 *      its backlog to the apply worker during the next side's measurement, on the same cores;
 *   5. measures floors: at each concurrency, autocannon against a Node http server that answers
 *      at once (HTTP alone: its requests/s and CPU per request), and at concurrency 1 the
 *      baseline's INSERT from Node over one `pg` connection; with the baseline's own time per
 *      commit they bound what any server can reach at concurrency 1;
 *   6. prints Markdown tables with absolute figures (medians over the rounds) and ratios (the
 *      median of each round's ratio of the two sides, timed next to each other, and its range), and the
 *      CPU each side spent per row, single rows and batches (read from /proc: steadier than
 *      rows/s on a shared machine, where rows/s follows whatever else runs);
 *   7. for batches, also the rate until the subscriber has every row: rows ÷ (measurement +
 *      catch-up). COPY is one transaction, and logical replication sends a transaction only once
 *      it has committed: the subscriber applies none of COPY's rows while COPY is timed, and all
 *      of them after, where batches committed one by one are applied while they are timed.
 *
 *   npm run bench:ingest -- [--duration 5] [--rounds 2] [--copy-rows 100000]
 *                           [--batch-connections 4] [--single-only] [--publisher-alone]
 *   (or BENCH_DURATION, BENCH_ROUNDS, BENCH_COPY_ROWS, BENCH_BATCH_CONNECTIONS; BENCH_SINGLE_ONLY=1,
 *   BENCH_PUBLISHER_ALONE=1); `-- --help` lists them.
 *
 * `--single-only` skips the batches: a quicker run while working on POST /data.
 * `--publisher-alone` disables the subscription while each side is timed (and enables it again
 * before the catch-up is waited for), for both sides alike: the publisher with the machine to
 * itself, as on a host of its own, without the subscriber's apply worker (or the replication
 * sender) on the same 2 cores.
 *
 * Every client connects as the API's own role, so triggers and privileges are the same for all.
 * A benchmark, not a test: it fails only if a request or a baseline fails.
 */

import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { benchCollector, table } from './lib.js';
import {
  backendsEnded,
  childrenOf,
  cpuMs,
  DATUM,
  median,
  pairedRatio,
  postgresCpuMs,
  settle,
} from './measure.js';
import { alternatingOptions, machine, readOptions } from './options.js';

const opts = readOptions(
  'bench:ingest',
  "Single-row POST /data against pgbench's single-row INSERT at concurrency 1, 8 and 32, and\n" +
    'POST /data/batch of 100 and 1,000 rows against raw COPY, in one run on a fresh collector (1\n' +
    'publisher, its API in its own process). Prints Markdown tables of rows/s and ratios.',
  {
    ...alternatingOptions({ duration: 5, rounds: 2 }),
    copyRows: {
      description: 'rows of the COPY baseline',
      default: 100_000,
      min: 1000,
      env: 'BENCH_COPY_ROWS',
    },
    batchConnections: {
      description: 'connections sending batches',
      default: 4,
      min: 1,
      env: 'BENCH_BATCH_CONNECTIONS',
    },
    singleOnly: {
      description: 'skip the batches',
      default: 0,
      flag: true,
      env: 'BENCH_SINGLE_ONLY',
    },
    publisherAlone: {
      description: 'disable the subscription while each side is timed',
      default: 0,
      flag: true,
      env: 'BENCH_PUBLISHER_ALONE',
    },
  },
);
const DURATION = opts.duration;
const ROUNDS = opts.rounds;
const COPY_ROWS = opts.copyRows;
const BATCH_CONNECTIONS = opts.batchConnections;
const CONCURRENCIES = [1, 8, 32];
const SINGLE_ONLY = opts.singleOnly === 1;
const PUBLISHER_ALONE = opts.publisherAlone === 1;
const BATCH_SIZES = SINGLE_ONLY ? [] : [100, 1000];
const WARMUP = 1;
const WARMUP_REQUESTS = 10_000;

const run = promisify(execFile);
const say = (line: string) => process.stderr.write(`${line}\n`);
const int = (n: number) => Math.round(n).toLocaleString('en-US');

const has = (cmd: string) => spawnSync('which', [cmd]).status === 0;

/** libpq's environment for a postgres:// URL (pgbench and psql read it). */
function libpqEnv(url: string): NodeJS.ProcessEnv {
  const u = new URL(url);
  return {
    ...process.env,
    PGHOST: u.hostname,
    PGPORT: u.port,
    PGUSER: decodeURIComponent(u.username),
    PGPASSWORD: decodeURIComponent(u.password),
    PGDATABASE: u.pathname.slice(1),
  };
}

interface Rate {
  /** Transactions (rows) per second. */
  tps: number;
  /** Average latency, ms (NaN where not measured). */
  latency: number;
  /** Rows stored in the measurement. */
  rows?: number;
  /** CPU ms per row: the API's process, PostgreSQL's, the load generator's (psql for COPY). */
  cpu?: Cpu;
  /** POST /data only: where the API and the load generator spent the wall time (see `Waits`). */
  waits?: Waits;
  /** Seconds the subscriber took, after the measurement, to have every row (see `settle`). */
  catchUp?: number;
}

/**
 * Shares of the measurement's wall time, from /proc/<pid>/task/<pid>/schedstat (the main
 * thread: the one that runs JavaScript): on a CPU, and runnable but waiting for one (the run
 * queue). With the group commit's mean rows per flush, from the API's /metrics.
 */
interface Waits {
  apiOnCpu: number;
  apiRunQueue: number;
  clientOnCpu: number;
  clientRunQueue: number;
  rowsPerFlush: number;
}

interface Cpu {
  api: number;
  postgres: number;
  client: number;
}

/** A thread's time on a CPU and waiting on a run queue, ns (0 where /proc cannot tell). */
function schedNs(pid: number | undefined): { run: number; wait: number } {
  if (pid === undefined) return { run: 0, wait: 0 };
  try {
    const [run = 0, wait = 0] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8')
      .trim()
      .split(' ')
      .map(Number);
    return { run, wait };
  } catch {
    return { run: 0, wait: 0 };
  }
}

/** /metrics needs a token in production: this bench's own. */
const METRICS_TOKEN = randomBytes(24).toString('hex');

/** The group commit's counters, from the API's /metrics. */
async function groupCommitCounts(apiUrl: string): Promise<{ flushes: number; rows: number }> {
  const res = await fetch(`${apiUrl}/metrics`, {
    headers: { authorization: `Bearer ${METRICS_TOKEN}` },
  });
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}: ${await res.text()}`);
  const text = await res.text();
  const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return {
    flushes: read('collector_publisher_group_commit_flushes_total'),
    rows: read('collector_publisher_group_commit_rows_total'),
  };
}

/** Runs `measure` (POST /data) and adds where the API and the load generator waited. */
async function withWaits(
  api: { pid?: number; url: string },
  measure: () => Promise<Rate>,
): Promise<Rate> {
  const counts0 = await groupCommitCounts(api.url);
  const [a0, c0, t0] = [schedNs(api.pid), schedNs(process.pid), performance.now()];
  const rate = await measure();
  const [a1, c1, wall] = [schedNs(api.pid), schedNs(process.pid), (performance.now() - t0) * 1e6];
  const counts1 = await groupCommitCounts(api.url);
  return {
    ...rate,
    waits: {
      apiOnCpu: (a1.run - a0.run) / wall,
      apiRunQueue: (a1.wait - a0.wait) / wall,
      clientOnCpu: (c1.run - c0.run) / wall,
      clientRunQueue: (c1.wait - c0.wait) / wall,
      rowsPerFlush: (counts1.rows - counts0.rows) / (counts1.flushes - counts0.flushes),
    },
  };
}

/** Runs `measure` and adds the CPU each side used, per row, to its rate. */
async function withCpu(
  pids: { api?: number; postgres?: number },
  measure: () => Promise<Rate>,
): Promise<Rate> {
  const earlier = new Set(pids.postgres === undefined ? [] : childrenOf(pids.postgres));
  const before = [cpuMs(pids.api), postgresCpuMs(pids.postgres), cpuMs(process.pid, true)];
  const rate = await measure();
  await backendsEnded(pids.postgres, earlier);
  const after = [cpuMs(pids.api), postgresCpuMs(pids.postgres), cpuMs(process.pid, true)];
  const rows = rate.rows ?? 0;
  const per = (i: number) => ((after[i] as number) - (before[i] as number)) / rows;
  return rows > 0 ? { ...rate, cpu: { api: per(0), postgres: per(1), client: per(2) } } : rate;
}

async function pgbench(url: string, dir: string, clients: number, seconds: number): Promise<Rate> {
  const script = path.join(dir, 'insert.sql');
  await writeFile(
    script,
    `INSERT INTO data (data) VALUES ('${DATUM}') RETURNING id, created_at;\n`,
  );
  const { stdout } = await run(
    'pgbench',
    [
      '-n',
      '-M',
      'prepared',
      '-f',
      script,
      '-c',
      String(clients),
      '-j',
      String(Math.min(clients, os.availableParallelism())),
      '-T',
      String(seconds),
    ],
    { env: libpqEnv(url) },
  );
  const tps = /tps = ([\d.]+)/.exec(stdout)?.[1];
  const latency = /latency average = ([\d.]+) ms/.exec(stdout)?.[1];
  const rows = /number of transactions actually processed: (\d+)/.exec(stdout)?.[1];
  if (!tps) throw new Error(`pgbench printed no tps:\n${stdout}`);
  return { tps: Number(tps), latency: Number(latency), rows: Number(rows) };
}

/** Without pgbench: the same prepared statement from `clients` Node connections. */
async function nodeInserts(url: string, clients: number, seconds: number): Promise<Rate> {
  const conns = await Promise.all(
    Array.from({ length: clients }, async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      return c;
    }),
  );
  const text = 'INSERT INTO data (data) VALUES ($1) RETURNING id, created_at';
  let done = 0;
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  try {
    await Promise.all(
      conns.map(async (c) => {
        while (performance.now() < end) {
          await c.query({ name: 'bench_insert', text, values: [DATUM] });
          done++;
        }
      }),
    );
  } finally {
    await Promise.all(conns.map((c) => c.end()));
  }
  const elapsed = (performance.now() - started) / 1000;
  return { tps: done / elapsed, latency: (elapsed * 1000 * clients) / done, rows: done };
}

async function cannon(
  url: string,
  body: string,
  connections: number,
  seconds: number,
  type = 'application/json',
): Promise<Rate> {
  const result = await autocannon({
    url,
    method: 'POST',
    connections,
    duration: seconds,
    headers: { 'content-type': type },
    body,
  });
  if (result.non2xx || result.errors || result.timeouts) {
    throw new Error(
      `${url}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`,
    );
  }
  return {
    tps: result.requests.total / seconds,
    latency: result.latency.average,
    rows: result.requests.total,
  };
}

/** Raw COPY of `rows` rows; rows/s over the whole command (connection included, a few ms). */
async function copyRows(url: string, dir: string, rows: number): Promise<Rate> {
  const file = path.join(dir, `copy-${rows}.txt`);
  await writeFile(file, `${DATUM}\n`.repeat(rows));
  const started = performance.now();
  await run(
    'psql',
    ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', `\\copy data (data) FROM '${file}'`],
    {
      env: libpqEnv(url),
    },
  );
  const seconds = (performance.now() - started) / 1000;
  return { tps: rows / seconds, latency: Number.NaN };
}

/** Without psql: 1,000-row multi-row INSERTs from Node, one connection. */
async function nodeMultiRow(url: string, rows: number): Promise<Rate> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const chunk = Array<string>(1000).fill(DATUM);
  const started = performance.now();
  try {
    for (let done = 0; done < rows; done += chunk.length) {
      await c.query({
        name: 'bench_many',
        text: 'INSERT INTO data (data) SELECT d::jsonb FROM unnest($1::text[]) AS d',
        values: [chunk],
      });
    }
  } finally {
    await c.end();
  }
  return { tps: rows / ((performance.now() - started) / 1000), latency: Number.NaN };
}

/**
 * Runs `measure` with the subscriber's subscriptions disabled (`--publisher-alone`), or as it is.
 * Enabled again before returning, also when `measure` fails; `settle` then waits for the backlog.
 */
async function alone<T>(subscriberAdminUrl: string, measure: () => Promise<T>): Promise<T> {
  if (!PUBLISHER_ALONE) return measure();
  const c = new pg.Client({ connectionString: subscriberAdminUrl });
  await c.connect();
  const all = async (how: 'ENABLE' | 'DISABLE') => {
    const { rows } = await c.query<{ subname: string }>('SELECT subname FROM pg_subscription');
    for (const { subname } of rows) {
      await c.query(`ALTER SUBSCRIPTION ${pg.escapeIdentifier(subname)} ${how}`);
    }
  };
  try {
    await all('DISABLE');
    try {
      // The apply worker and its replication sender stop within moments; wait until they have.
      for (let waited = 0; ; waited += 50) {
        const { rows } = await c.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_stat_subscription WHERE pid IS NOT NULL',
        );
        if (rows[0]?.n === 0) break;
        if (waited >= 10_000) {
          throw new Error('the subscriber still has an apply worker 10 s after DISABLE');
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      return await measure();
    } finally {
      await all('ENABLE');
    }
  } finally {
    await c.end();
  }
}

/**
 * The HTTP floor: a Node http server, in a process of its own, that reads each request's body and
 * answers 201 with a small JSON at once, without a database. What autocannon and Node's HTTP stack
 * alone cost per request on this machine: at concurrency 1 no server that answers after its
 * commit can take less than this floor's time plus the commit's.
 */
const FLOOR_SERVER = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const out = JSON.stringify({ id: '00000000-0000-0000-0000-000000000000', data: value.data });
    res.writeHead(201, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(out) });
    res.end(out);
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

async function floorServer(): Promise<{ url: string; pid?: number; stop: () => void }> {
  const child = spawn(process.execPath, ['-e', FLOOR_SERVER], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (code) => reject(new Error(`the floor server exited (${code})`)));
  });
  // Ctrl-C (benchCollector exits from its signal handler) or a crash must not leave it running.
  const stop = () => child.kill();
  process.once('exit', stop);
  return { url: `http://127.0.0.1:${port}`, pid: child.pid, stop };
}

async function main() {
  const usePgbench = has('pgbench');
  const usePsql = has('psql');
  // As deployed (compose sets NODE_ENV=production), like bench:graphql: Fastify takes its
  // production paths, and no CORS origin is configured. POST /data without API keys.
  const bench = await benchCollector('ingest', 1, {
    env: {
      NODE_ENV: 'production',
      COLLECTOR_PUBLISHER_AUTH: 'optional',
      COLLECTOR_METRICS_TOKEN: METRICS_TOKEN,
    },
  });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'collector-bench-ingest-'));
  let floorStop: (() => void) | undefined;
  try {
    say(`booting a fresh collector (1 publisher) in ${bench.dataDir}...`);
    const c = await bench.start();
    const p = c.publishers[0];
    if (!p) throw new Error('no publisher');
    const dbUrl = p.apiDatabaseUrl;
    const adminUrl = p.adminUrl;
    const isolated = <T>(measure: () => Promise<T>) => alone(c.subscriberAdminUrl, measure);
    const floor = await floorServer();
    floorStop = floor.stop;
    /** HTTP alone (FLOOR_SERVER), by concurrency, with its CPU per request. */
    const floorRates = new Map<number, Rate[]>(CONCURRENCIES.map((n) => [n, []]));
    const nodePgRates: Rate[] = [];
    const pids = { api: p.api.pid, postgres: p.cluster.pid };
    const one = `{"data": ${DATUM}}`;
    const single = new Map<number, { base: Rate[]; http: Rate[] }>();
    for (const n of CONCURRENCIES) single.set(n, { base: [], http: [] });
    const batches = new Map<number, { copy: Rate[]; json: Rate[]; ndjson: Rate[] }>();
    for (const n of BATCH_SIZES) batches.set(n, { copy: [], json: [], ndjson: [] });

    const baseline = (clients: number, seconds: number) =>
      usePgbench ? pgbench(dbUrl, dir, clients, seconds) : nodeInserts(dbUrl, clients, seconds);
    const copy = (rows: number) =>
      usePsql ? copyRows(dbUrl, dir, rows) : nodeMultiRow(dbUrl, rows);

    // Before anything is measured, both sides run until warm: the API's code compiled by V8's
    // optimising tier (a few thousand requests; a cold process spends several times the CPU per
    // request, which would land on whichever case came first), and the table's first pages.
    say(`warming up: ${int(WARMUP_REQUESTS)} POST /data, then pgbench for ${WARMUP} s...`);
    await autocannon({
      url: `${p.url}/data`,
      method: 'POST',
      connections: 8,
      amount: WARMUP_REQUESTS,
      headers: { 'content-type': 'application/json' },
      body: one,
    });
    await baseline(8, WARMUP).catch(() => undefined);

    for (let round = 1; round <= ROUNDS; round++) {
      for (const n of CONCURRENCIES) {
        const r = single.get(n) as { base: Rate[]; http: Rate[] };
        const sides = [
          async () => {
            // A warm-up may see no transaction at all on a busy machine (32 connections take a
            // while to open): only the measurement must succeed.
            await baseline(n, WARMUP).catch(() => undefined);
            await settle(adminUrl);
            const rate = await isolated(() => withCpu(pids, () => baseline(n, DURATION)));
            r.base.push({ ...rate, catchUp: await settle(adminUrl) });
          },
          async () => {
            await cannon(`${p.url}/data`, one, n, WARMUP);
            await settle(adminUrl);
            const rate = await isolated(() =>
              withWaits({ pid: pids.api, url: p.url }, () =>
                withCpu(pids, () => cannon(`${p.url}/data`, one, n, DURATION)),
              ),
            );
            r.http.push({ ...rate, catchUp: await settle(adminUrl) });
          },
        ];
        // The floors, once per round: HTTP alone (see FLOOR_SERVER), with the CPU it costs per
        // request; at concurrency 1 also the baseline's INSERT as Node sees it (`pg`, one
        // connection: what the API waits for).
        // With --publisher-alone they are timed alone too, as both sides are.
        await cannon(`${floor.url}/data`, one, n, WARMUP);
        (floorRates.get(n) as Rate[]).push(
          await isolated(() =>
            withCpu({ api: floor.pid }, () => cannon(`${floor.url}/data`, one, n, DURATION)),
          ),
        );
        if (n === 1) {
          await settle(adminUrl);
          nodePgRates.push(await isolated(() => nodeInserts(dbUrl, 1, DURATION)));
          await settle(adminUrl);
        }
        // Alternate which goes first, so a drift in the machine's speed hits both alike.
        if (round % 2 === 0) sides.reverse();
        for (const side of sides) await side();
        const [b, h] = [r.base.at(-1) as Rate, r.http.at(-1) as Rate];
        say(
          `  round ${round}/${ROUNDS} single row, c=${n}: baseline ${int(b.tps)}/s, POST /data ${int(h.tps)}/s (${(h.tps / b.tps).toFixed(2)}x)`,
        );
      }
      for (const size of BATCH_SIZES) {
        const r = batches.get(size) as { copy: Rate[]; json: Rate[]; ndjson: Rate[] };
        const arrayBody = `[${Array(size).fill(one).join(',')}]`;
        const ndjsonBody = `${Array(size).fill(one).join('\n')}\n`;
        const url = `${p.url}/data/batch`;
        const sides = [
          async () => {
            await settle(adminUrl);
            const rate = await isolated(() =>
              withCpu(pids, async () => ({ ...(await copy(COPY_ROWS)), rows: COPY_ROWS })),
            );
            r.copy.push({ ...rate, catchUp: await settle(adminUrl) });
          },
          async () => {
            await cannon(url, arrayBody, BATCH_CONNECTIONS, WARMUP);
            await settle(adminUrl);
            // Requests to rows, so that withCpu divides by rows.
            const batchesOf = async (type: string, body: string) => {
              const a = await cannon(url, body, BATCH_CONNECTIONS, DURATION, type);
              return { ...a, tps: a.tps * size, rows: (a.rows ?? 0) * size };
            };
            const a = await isolated(() =>
              withCpu(pids, () => batchesOf('application/json', arrayBody)),
            );
            r.json.push({ ...a, catchUp: await settle(adminUrl) });
            const nd = await isolated(() =>
              withCpu(pids, () => batchesOf('application/x-ndjson', ndjsonBody)),
            );
            r.ndjson.push({ ...nd, catchUp: await settle(adminUrl) });
          },
        ];
        if (round % 2 === 0) sides.reverse();
        for (const side of sides) await side();
        say(
          `  round ${round}/${ROUNDS} batches of ${size}: COPY ${int((r.copy.at(-1) as Rate).tps)} rows/s, ` +
            `JSON ${int((r.json.at(-1) as Rate).tps)} rows/s, NDJSON ${int((r.ndjson.at(-1) as Rate).tps)} rows/s`,
        );
      }
    }

    const baseName = usePgbench
      ? 'pgbench -M prepared (single-row INSERT … RETURNING)'
      : 'the same prepared INSERT from Node (pg; no pgbench here)';
    const copyName = usePsql
      ? `psql \\copy of ${int(COPY_ROWS)} rows`
      : `1,000-row multi-row INSERTs from Node (no psql here), ${int(COPY_ROWS)} rows`;
    const m = (rs: Rate[], f: (r: Rate) => number = (r) => r.tps) => median(rs.map(f));
    const paired = (ours: Rate[], base: Rate[], f: (r: Rate) => number = (r) => r.tps) =>
      pairedRatio(ours, base, f);
    const catchUp = (rs: Rate[]) => m(rs, (x) => x.catchUp ?? Number.NaN).toFixed(1);
    console.log(
      `\nIngest into one publisher, ${new Date().toISOString()}; ${machine()} ` +
        '(NODE_ENV=production), embedded PostgreSQL; ' +
        `${ROUNDS} rounds of ${DURATION} s per case, alternating; medians over rounds.` +
        (PUBLISHER_ALONE
          ? ' Publisher alone: the subscription was disabled while each side was timed (catch-up ' +
            'times include the apply worker starting again).'
          : ''),
    );
    console.log(`Single-row baseline: ${baseName}. Batch baseline: ${copyName}.\n`);
    console.log(
      table(
        [
          'single row',
          'baseline rows/s',
          'POST /data rows/s',
          'ratio',
          'baseline / HTTP mean ms',
          'subscriber caught up after (s)',
        ],
        CONCURRENCIES.map((n) => {
          const r = single.get(n) as { base: Rate[]; http: Rate[] };
          return [
            `concurrency ${n}`,
            int(m(r.base)),
            int(m(r.http)),
            paired(r.http, r.base),
            `${m(r.base, (x) => x.latency).toFixed(2)} / ${m(r.http, (x) => x.latency).toFixed(2)}`,
            `${catchUp(r.base)} / ${catchUp(r.http)}`,
          ];
        }),
      ),
    );
    // At concurrency 1 each request waits for the one before: the floor's time per request plus
    // the baseline's (one commit) bound any server that answers after its commit.
    const floorRate = m(floorRates.get(1) as Rate[]);
    const nodePg = m(nodePgRates);
    const base1 = m((single.get(1) as { base: Rate[] }).base);
    const us = (rate: number) => `${((1000 / rate) * 1000).toFixed(0)} µs`;
    const bound = (commit: number) => 1 / (1 / floorRate + 1 / commit);
    console.log(
      `\nFloors at concurrency 1, where each request waits for the one before:\n` +
        `- HTTP alone (autocannon against a Node http server that answers at once, no database): ` +
        `${int(floorRate)} requests/s, ${us(floorRate)} per request;\n` +
        `- the baseline's commit: ${int(base1)} rows/s, ${us(base1)} per row; the same INSERT from ` +
        `Node (pg, one connection): ${int(nodePg)} rows/s, ${us(nodePg)} per row.\n` +
        `A server that answers after its commit spends at least the first plus the second: at most ` +
        `${int(bound(base1))} rows/s here (${(bound(base1) / base1).toFixed(2)}x the baseline); with ` +
        `Node's own round trip to PostgreSQL, ${int(bound(nodePg))} rows/s (${(bound(nodePg) / base1).toFixed(2)}x).`,
    );
    console.log('');
    const cpu = (rs: Rate[], k: keyof Cpu) => m(rs, (x) => x.cpu?.[k] ?? Number.NaN);
    const ms = (x: number) => x.toFixed(3);
    console.log(
      'CPU ms per row (from /proc: the API process; the publisher postmaster and all its ' +
        'children, replication sender included; the load generator, pgbench or autocannon). ' +
        'Beside them, HTTP alone: the Node http server that answers at once, and autocannon, per ' +
        'request, with its requests/s:\n',
    );
    console.log(
      table(
        [
          'single row',
          'pgbench: postgres + client',
          'POST /data: API + postgres + client',
          'HTTP alone: server + client (requests/s)',
        ],
        CONCURRENCIES.map((n) => {
          const r = single.get(n) as { base: Rate[]; http: Rate[] };
          const f = floorRates.get(n) as Rate[];
          const [bp, bc] = [cpu(r.base, 'postgres'), cpu(r.base, 'client')];
          const [ha, hp, hc] = [cpu(r.http, 'api'), cpu(r.http, 'postgres'), cpu(r.http, 'client')];
          const [fa, fc] = [cpu(f, 'api'), cpu(f, 'client')];
          return [
            `concurrency ${n}`,
            `${ms(bp)} + ${ms(bc)} = ${ms(bp + bc)}`,
            `${ms(ha)} + ${ms(hp)} + ${ms(hc)} = ${ms(ha + hp + hc)}`,
            `${ms(fa)} + ${ms(fc)} = ${ms(fa + fc)} (${int(m(f))})`,
          ];
        }),
      ),
    );
    console.log('');
    console.log(
      "Where POST /data's time went (medians; shares of the wall time, from /proc/<pid>/task/<pid>/schedstat " +
        "of each process's JavaScript thread: on a CPU, and runnable but waiting for one):\n",
    );
    const share = (x: number) => `${Math.round(x * 100)}%`;
    console.log(
      table(
        [
          'single row',
          'rows per flush',
          'API: on CPU / run queue',
          'autocannon: on CPU / run queue',
        ],
        CONCURRENCIES.map((n) => {
          const r = single.get(n) as { base: Rate[]; http: Rate[] };
          const w = (k: keyof Waits) => m(r.http, (x) => x.waits?.[k] ?? Number.NaN);
          return [
            `concurrency ${n}`,
            w('rowsPerFlush').toFixed(1),
            `${share(w('apiOnCpu'))} / ${share(w('apiRunQueue'))}`,
            `${share(w('clientOnCpu'))} / ${share(w('clientRunQueue'))}`,
          ];
        }),
      ),
    );
    if (BATCH_SIZES.length === 0) return;
    console.log('');
    console.log(
      table(
        [
          'batch',
          'COPY rows/s',
          'JSON array rows/s',
          'ratio',
          'NDJSON rows/s',
          'ratio',
          'subscriber caught up after (s): COPY / JSON / NDJSON',
        ],
        BATCH_SIZES.map((size) => {
          const r = batches.get(size) as { copy: Rate[]; json: Rate[]; ndjson: Rate[] };
          return [
            `${int(size)} rows, ${BATCH_CONNECTIONS} connections`,
            int(m(r.copy)),
            int(m(r.json)),
            paired(r.json, r.copy),
            int(m(r.ndjson)),
            paired(r.ndjson, r.copy),
            `${catchUp(r.copy)} / ${catchUp(r.json)} / ${catchUp(r.ndjson)}`,
          ];
        }),
      ),
    );
    const micro = (x: number) => (x * 1000).toFixed(1);
    const cpuSum = (rs: Rate[], keys: Array<keyof Cpu>) =>
      keys.map((k) => micro(cpu(rs, k))).join(' + ') +
      ` = ${micro(keys.reduce((t, k) => t + cpu(rs, k), 0))}`;
    console.log(
      '\nCPU µs per row, batches (from /proc as above; the client is psql for COPY, or the bench itself where it has no psql). ' +
        (PUBLISHER_ALONE
          ? 'Replication was off while each side was timed, so PostgreSQL is the backends and the WAL writer alike.'
          : "PostgreSQL includes the replication sender: for the batches, sending their rows while they are timed; for COPY, only decoding them (it sends them once COPY has committed, after its timer). --publisher-alone compares PostgreSQL's own work alike.") +
        '\n',
    );
    console.log(
      table(
        [
          'batch',
          'COPY: postgres + psql',
          'JSON array: API + postgres + client',
          'NDJSON: API + postgres + client',
        ],
        BATCH_SIZES.map((size) => {
          const r = batches.get(size) as { copy: Rate[]; json: Rate[]; ndjson: Rate[] };
          const all: Array<keyof Cpu> = ['api', 'postgres', 'client'];
          return [
            `${int(size)} rows, ${BATCH_CONNECTIONS} connections`,
            cpuSum(r.copy, ['postgres', 'client']),
            cpuSum(r.json, all),
            cpuSum(r.ndjson, all),
          ];
        }),
      ),
    );
    if (PUBLISHER_ALONE) {
      // The catch-up after each side includes the apply worker starting again: not a rate.
      console.log(
        '\n(No "until the subscriber has every row" table with --publisher-alone: replication ' +
          'was off while each side was timed.)',
      );
      return;
    }
    // Rows ÷ (the time they took to store + the subscriber's catch-up after): a rate that charges
    // each side with its own replication, wherever it falls (see the header, point 7).
    const replicated = (x: Rate) => (x.rows ?? 0) / ((x.rows ?? 0) / x.tps + (x.catchUp ?? 0));
    console.log(
      '\nBatches until the subscriber has every row: rows ÷ (seconds to store them + seconds the ' +
        "subscriber took after). COPY's rows reach the subscriber only once its one transaction " +
        'has committed, after its timer stopped; batches commit one by one, and are applied while ' +
        'they are timed.\n',
    );
    console.log(
      table(
        ['batch', 'COPY rows/s', 'JSON array rows/s', 'ratio', 'NDJSON rows/s', 'ratio'],
        BATCH_SIZES.map((size) => {
          const r = batches.get(size) as { copy: Rate[]; json: Rate[]; ndjson: Rate[] };
          return [
            `${int(size)} rows, ${BATCH_CONNECTIONS} connections`,
            int(m(r.copy, replicated)),
            int(m(r.json, replicated)),
            paired(r.json, r.copy, replicated),
            int(m(r.ndjson, replicated)),
            paired(r.ndjson, r.copy, replicated),
          ];
        }),
      ),
    );
  } finally {
    floorStop?.();
    await rm(dir, { recursive: true, force: true });
    await bench.cleanup();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
