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
 *   4. prints a Markdown table with absolute figures and ratios (medians over the rounds).
 *
 *   npm run bench:ingest [-- --duration 5] [-- --rounds 2] [-- --copy-rows 100000]
 *                        [-- --batch-connections 4]
 *   (or BENCH_DURATION, BENCH_ROUNDS, BENCH_COPY_ROWS, BENCH_BATCH_CONNECTIONS)
 *
 * Every client connects as the API's own role, so triggers and privileges are the same for all.
 * A benchmark, not a test: it fails only if a request or a baseline fails.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { benchCollector, numberOption, table } from './lib.js';

const DURATION = numberOption('duration', 'BENCH_DURATION', 5);
const ROUNDS = numberOption('rounds', 'BENCH_ROUNDS', 2);
const COPY_ROWS = numberOption('copy-rows', 'BENCH_COPY_ROWS', 100_000);
const BATCH_CONNECTIONS = numberOption('batch-connections', 'BENCH_BATCH_CONNECTIONS', 4);
const CONCURRENCIES = [1, 8, 32];
const BATCH_SIZES = [100, 1000];
const WARMUP = 1;

const run = promisify(execFile);
const say = (line: string) => process.stderr.write(`${line}\n`);
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** The same small document everywhere: what a sensor or a form might send. */
const DATUM = '{"sensor": "s-17", "value": 21.5, "ok": true, "tags": ["a", "b"]}';

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
  if (!tps) throw new Error(`pgbench printed no tps:\n${stdout}`);
  return { tps: Number(tps), latency: Number(latency) };
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
  return { tps: done / elapsed, latency: (elapsed * 1000 * clients) / done };
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
  return { tps: result.requests.total / seconds, latency: result.latency.average };
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

async function main() {
  const usePgbench = has('pgbench');
  const usePsql = has('psql');
  const bench = await benchCollector('ingest', 1);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'collector-bench-ingest-'));
  try {
    say(`booting a fresh collector (1 publisher) in ${bench.dataDir}...`);
    const c = await bench.start();
    const p = c.publishers[0];
    if (!p) throw new Error('no publisher');
    const dbUrl = p.apiDatabaseUrl;
    const one = `{"data": ${DATUM}}`;
    const single = new Map<number, { base: Rate[]; http: Rate[] }>();
    for (const n of CONCURRENCIES) single.set(n, { base: [], http: [] });
    const batches = new Map<number, { copy: Rate[]; json: Rate[]; ndjson: Rate[] }>();
    for (const n of BATCH_SIZES) batches.set(n, { copy: [], json: [], ndjson: [] });

    const baseline = (clients: number, seconds: number) =>
      usePgbench ? pgbench(dbUrl, dir, clients, seconds) : nodeInserts(dbUrl, clients, seconds);
    const copy = (rows: number) =>
      usePsql ? copyRows(dbUrl, dir, rows) : nodeMultiRow(dbUrl, rows);

    for (let round = 1; round <= ROUNDS; round++) {
      for (const n of CONCURRENCIES) {
        const r = single.get(n) as { base: Rate[]; http: Rate[] };
        const sides = [
          async () => {
            await baseline(n, WARMUP);
            r.base.push(await baseline(n, DURATION));
          },
          async () => {
            await cannon(`${p.url}/data`, one, n, WARMUP);
            r.http.push(await cannon(`${p.url}/data`, one, n, DURATION));
          },
        ];
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
            r.copy.push(await copy(COPY_ROWS));
          },
          async () => {
            await cannon(url, arrayBody, BATCH_CONNECTIONS, WARMUP);
            const a = await cannon(url, arrayBody, BATCH_CONNECTIONS, DURATION);
            r.json.push({ tps: a.tps * size, latency: a.latency });
            const nd = await cannon(
              url,
              ndjsonBody,
              BATCH_CONNECTIONS,
              DURATION,
              'application/x-ndjson',
            );
            r.ndjson.push({ tps: nd.tps * size, latency: nd.latency });
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
    console.log(
      `\nIngest into one publisher, ${new Date().toISOString()}; ${os.availableParallelism()} CPUs ` +
        `(${os.cpus()[0]?.model.trim()}), node ${process.version}, embedded PostgreSQL; ` +
        `${ROUNDS} rounds of ${DURATION} s per case, alternating; medians over rounds.`,
    );
    console.log(`Single-row baseline: ${baseName}. Batch baseline: ${copyName}.\n`);
    console.log(
      table(
        ['single row', 'baseline rows/s', 'POST /data rows/s', 'ratio', 'baseline / HTTP mean ms'],
        CONCURRENCIES.map((n) => {
          const r = single.get(n) as { base: Rate[]; http: Rate[] };
          const ratios = r.http.map((h, i) => h.tps / (r.base[i] as Rate).tps);
          return [
            `concurrency ${n}`,
            int(m(r.base)),
            int(m(r.http)),
            `${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
            `${m(r.base, (x) => x.latency).toFixed(2)} / ${m(r.http, (x) => x.latency).toFixed(2)}`,
          ];
        }),
      ),
    );
    console.log('');
    console.log(
      table(
        ['batch', 'COPY rows/s', 'JSON array rows/s', 'ratio', 'NDJSON rows/s', 'ratio'],
        BATCH_SIZES.map((size) => {
          const r = batches.get(size) as { copy: Rate[]; json: Rate[]; ndjson: Rate[] };
          const copyRate = m(r.copy);
          return [
            `${int(size)} rows, ${BATCH_CONNECTIONS} connections`,
            int(copyRate),
            int(m(r.json)),
            `${(m(r.json) / copyRate).toFixed(2)}x`,
            int(m(r.ndjson)),
            `${(m(r.ndjson) / copyRate).toFixed(2)}x`,
          ];
        }),
      ),
    );
  } finally {
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
