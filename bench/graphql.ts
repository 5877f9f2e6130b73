/**
 * The gateway against PostGraphile 5 on the same subscriber database, side by side.
 *
 *   1. boots a fresh local collector (2 publishers) in a temporary directory;
 *   2. loads ROWS order documents through the publishers' `POST /data` (logical replication carries
 *      them to the subscriber), then ANNOTATIONS annotations through the gateway's `annotate`;
 *   3. starts PostGraphile 5 (pinned in bench/peers/package.json, installed on first use into
 *      node_modules/.cache/collector-bench-peers with the Node 22 it requires) on the subscriber;
 *   4. checks that both servers answer the same rows and annotations, in the same order;
 *   5. runs autocannon against each, alternating which goes first in each round, for every case,
 *      and prints requests/s, p50 and p99 for each and the ratio (ours / PostGraphile's).
 *
 * With --serve it stops after step 4 and serves both until Ctrl-C, for profiling or exploring.
 *
 *   npm run bench:graphql -- [--rounds 3] [--duration 10] [--connections 8]
 *                            [--rows 1000] [--annotations 300] [--serve]
 *   (or BENCH_ROUNDS, BENCH_DURATION, BENCH_CONNECTIONS, BENCH_ROWS, BENCH_ANNOTATIONS)
 *
 * A benchmark, not a test: it prints figures and fails only if the two answers differ.
 */
import 'reflect-metadata';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { projectRoot } from '../common/paths.js';
import { freeRange } from '../common/ports.js';
import { benchCollector, benchToken, graphql, postJson, runBench, table } from './lib.js';
import { median, pairedRatio } from './measure.js';
import { readOptions } from './options.js';

const opts = readOptions(
  'bench:graphql',
  'The gateway against PostGraphile 5 on the same subscriber database: loads --rows documents and\n' +
    '--annotations annotations, checks both servers answer the same, then prints requests/s, p50\n' +
    'and p99 of each and the ratio, per query, alternating which goes first in each round.',
  {
    rows: { description: 'documents to load', default: 1000, min: 1, env: 'BENCH_ROWS' },
    annotations: {
      description: 'annotations to load',
      default: 300,
      min: 0,
      env: 'BENCH_ANNOTATIONS',
    },
    rounds: { description: 'rounds per query', default: 3, min: 1, env: 'BENCH_ROUNDS' },
    duration: {
      description: 'seconds per measured run',
      default: 10,
      min: 1,
      env: 'BENCH_DURATION',
    },
    connections: {
      description: 'autocannon connections',
      default: 8,
      min: 1,
      env: 'BENCH_CONNECTIONS',
    },
    serve: {
      description: 'stop after loading and checking; serve both until Ctrl-C',
      default: 0,
      flag: true,
    },
  },
);
const ROWS = opts.rows;
const ANNOTATIONS = opts.annotations;
const ROUNDS = opts.rounds;
const DURATION = opts.duration;
const CONNECTIONS = opts.connections;
/**
 * BENCH_CASES=0,3: run only those cases. To profile, run the compiled bench under
 * `node --cpu-prof --cpu-prof-dir=prof dist/bench/graphql.js`: the collector's processes inherit
 * the flags (fork passes execArgv on) and each writes a V8 CPU profile when it stops.
 */
const ONLY = process.env.BENCH_CASES?.split(',').map(Number);
/** Seconds of load before each measured run, so neither server is measured cold. */
const WARMUP = 2;

const say = (line: string) => process.stderr.write(`${line}\n`);
const int = (n: number) => Math.round(n).toLocaleString('en-US');

// --- the two servers' queries, the same shape and order --------------------------------------

const annotationFields = 'id body author createdAt';

function ours(first: number, annotations: boolean): string {
  const nested = annotations ? ` annotations { ${annotationFields} }` : '';
  return `{ data(first: ${first}) { nodes { id publisher data createdAt${nested} } } }`;
}

function theirs(first: number, annotations: boolean): string {
  const nested = annotations
    ? ' annotationsByDataId(orderBy: [CREATED_AT_ASC, ROW_ID_ASC]) { nodes { id: rowId body author createdAt } }'
    : '';
  return `{ allData(first: ${first}, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) { nodes { id: rowId publisher data createdAt${nested} } } }`;
}

interface Case {
  name: string;
  ours: string;
  theirs: string;
}

const CASES: Case[] = [
  { name: 'data(first: 100) with annotations', ours: ours(100, true), theirs: theirs(100, true) },
  { name: 'data(first: 10) with annotations', ours: ours(10, true), theirs: theirs(10, true) },
  {
    name: 'data(first: 1000) with annotations',
    ours: ours(1000, true),
    theirs: theirs(1000, true),
  },
  { name: 'data(first: 100), no annotations', ours: ours(100, false), theirs: theirs(100, false) },
  { name: '{ __typename }', ours: '{ __typename }', theirs: '{ __typename }' },
];

// --- PostGraphile -------------------------------------------------------------------------------

const PEERS_SOURCE = path.join(projectRoot(), 'bench', 'peers');
const PEERS = path.join(projectRoot(), 'node_modules', '.cache', 'collector-bench-peers');

/** Installs the pinned peers once (again only when bench/peers changes): `npm ci` into a cache. */
function installPeers(): { node: string; postgraphile: string } {
  const bin = (name: string) => path.join(PEERS, 'node_modules', '.bin', name);
  const lock = (dir: string) => {
    const file = path.join(dir, 'package-lock.json');
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  };
  if (!existsSync(bin('postgraphile')) || lock(PEERS) !== lock(PEERS_SOURCE)) {
    say(`installing PostGraphile 5 and Node 22 (pinned in bench/peers) into ${PEERS}...`);
    mkdirSync(PEERS, { recursive: true });
    for (const f of ['package.json', 'package-lock.json'])
      copyFileSync(path.join(PEERS_SOURCE, f), path.join(PEERS, f));
    const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], {
      cwd: PEERS,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (npm.status !== 0) throw new Error(`npm ci in ${PEERS} failed (exit ${npm.status})`);
  }
  return { node: bin('node'), postgraphile: bin('postgraphile') };
}

async function waitForGraphql(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`PostGraphile exited:\n${log()}`);
    const ok = await postJson(url, JSON.stringify({ query: '{ __typename }' })).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`PostGraphile did not answer within 60 s:\n${log()}`);
}

async function startPostGraphile(connection: string): Promise<{ url: string; stop: () => void }> {
  const peers = installPeers();
  const port = await freeRange(1);
  const child = spawn(
    peers.node,
    [
      peers.postgraphile,
      '--preset',
      'postgraphile/presets/amber',
      '-c',
      connection,
      '-s',
      'public',
      '-n',
      '127.0.0.1',
      '-p',
      String(port),
    ],
    {
      cwd: PEERS,
      env: { ...process.env, NODE_ENV: 'production', GRAPHILE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const keep = (b: Buffer) => {
    output = (output + b.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const stop = () => {
    if (child.exitCode === null) child.kill('SIGTERM');
  };
  process.once('exit', stop);
  const url = `http://127.0.0.1:${port}/graphql`;
  try {
    await waitForGraphql(url, child, () => output);
  } catch (e) {
    stop();
    throw e;
  }
  return { url, stop };
}

// --- data ---------------------------------------------------------------------------------------

/** A small order document, varied by `n`, as a client script might post it. */
function order(n: number): unknown {
  const items = Array.from({ length: 1 + (n % 3) }, (_, k) => ({
    sku: `SKU-${(n * 7 + k) % 500}`,
    qty: 1 + ((n + k) % 4),
    price: Math.round(((n * 13 + k * 7) % 10000) + 99) / 100,
  }));
  return {
    orderId: `ORD-${String(n).padStart(7, '0')}`,
    email: `customer${n % 800}@example.com`,
    status: ['pending', 'paid', 'shipped', 'delivered'][n % 4],
    amount: items.reduce((a, i) => a + i.qty * i.price, 0),
    items,
    tags: n % 5 === 0 ? ['gift'] : [],
  };
}

async function load(
  publishers: Array<{ url: string }>,
  gatewayUrl: string,
  token: string,
  subscriberAdminUrl: string,
): Promise<void> {
  const t0 = performance.now();
  for (let n = 0; n < ROWS; n++) {
    const p = publishers[n % publishers.length] as { url: string };
    const res = await postJson(`${p.url}/data`, JSON.stringify({ data: order(n) }));
    if (res.status !== 201) throw new Error(`POST /data: ${res.status} ${res.text}`);
  }
  const sub = new pg.Client({ connectionString: subscriberAdminUrl });
  await sub.connect();
  try {
    for (;;) {
      const { rows } = await sub.query<{ n: string }>('SELECT count(*) AS n FROM data');
      if (Number(rows[0]?.n) >= ROWS) break;
      if (performance.now() - t0 > 120_000) throw new Error('rows did not replicate in 2 minutes');
      await new Promise((r) => setTimeout(r, 100));
    }
    say(
      `${int(ROWS)} rows posted and replicated in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    // Annotations on a deterministic spread of rows, a few of them on the same row.
    const { rows: ids } = await sub.query<{ id: string }>('SELECT id FROM data ORDER BY id');
    for (let k = 0; k < ANNOTATIONS; k++) {
      const id = ids[(k * 7919) % ids.length]?.id;
      await graphql(
        gatewayUrl,
        token,
        'mutation($id: UUID!, $body: JSON!) { annotate(dataId: $id, body: $body) { id } }',
        { id, body: { note: `checked ${k}`, rating: 1 + (k % 5) } },
      );
    }
    await sub.query('VACUUM ANALYZE data');
    await sub.query('VACUUM ANALYZE annotation');
  } finally {
    await sub.end();
  }
}

// --- the same answer ----------------------------------------------------------------------------

interface Row {
  id: string;
  publisher: string;
  data: unknown;
  createdAt: string;
  annotations?: Array<{ id: string; body: unknown; author: string; createdAt: string }>;
  annotationsByDataId?: { nodes: Row['annotations'] };
}

/** Rows in a comparable form: timestamps to the millisecond (ours are JavaScript Dates). */
function normalise(rows: Row[]): string {
  const ms = (t: string) => new Date(t).getTime();
  return JSON.stringify(
    rows.map((r) => ({
      id: r.id,
      publisher: r.publisher,
      data: r.data,
      createdAt: ms(r.createdAt),
      annotations: (r.annotations ?? r.annotationsByDataId?.nodes ?? []).map((a) => ({
        ...a,
        createdAt: ms(a.createdAt),
      })),
    })),
  );
}

async function post(url: string, query: string, token?: string): Promise<unknown> {
  const res = await postJson(
    url,
    JSON.stringify({ query }),
    token ? { authorization: `Bearer ${token}` } : {},
  );
  const body = JSON.parse(res.text) as { data?: unknown; errors?: unknown };
  if (res.status !== 200 || body.errors) throw new Error(`${url}: ${res.status} ${res.text}`);
  return body.data;
}

async function checkSameAnswers(ourUrl: string, token: string, theirUrl: string): Promise<void> {
  for (const k of CASES.slice(0, 4)) {
    const a = (await post(ourUrl, k.ours, token)) as { data: { nodes: Row[] } };
    const b = (await post(theirUrl, k.theirs)) as { allData: { nodes: Row[] } };
    const [x, y] = [normalise(a.data.nodes), normalise(b.allData.nodes)];
    if (x !== y) {
      throw new Error(
        `"${k.name}": the answers differ\nours:   ${x.slice(0, 400)}\ntheirs: ${y.slice(0, 400)}`,
      );
    }
    const annotations = a.data.nodes.reduce((s, r) => s + (r.annotations?.length ?? 0), 0);
    say(`  same answer for ${k.name}: ${a.data.nodes.length} rows, ${annotations} annotations`);
  }
}

// --- load ---------------------------------------------------------------------------------------

interface Run {
  rps: number;
  p50: number;
  p99: number;
}

async function cannon(url: string, query: string, seconds: number, token?: string): Promise<Run> {
  const result = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: seconds,
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query }),
  });
  if (result.non2xx || result.errors || result.timeouts) {
    throw new Error(
      `${url}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`,
    );
  }
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ v: string }>(
      "SELECT current_setting('server_version') AS v",
    );
    return rows[0]?.v ?? '?';
  } finally {
    await client.end();
  }
}

async function main() {
  // As deployed (compose sets NODE_ENV=production), as PostGraphile runs here too: graphql-js,
  // Fastify and Apollo take their production paths. Publishers take rows without API keys.
  const bench = await benchCollector('graphql', 2, {
    env: { NODE_ENV: 'production', COLLECTOR_PUBLISHER_AUTH: 'optional' },
  });
  const cases = CASES.filter((_, i) => !ONLY || ONLY.includes(i));
  let postgraphile: { url: string; stop: () => void } | undefined;
  try {
    say(`booting a fresh collector (2 publishers) in ${bench.dataDir}...`);
    const c = await bench.start();
    const token = await benchToken(c.gatewayUrl);
    await load(c.publishers, c.gatewayUrl, token, c.subscriberAdminUrl);
    postgraphile = await startPostGraphile(c.subscriberAdminUrl);
    const ourUrl = `${c.gatewayUrl}/graphql`;
    say(`PostGraphile 5 on the subscriber at ${postgraphile.url}; checking both answers...`);
    await checkSameAnswers(ourUrl, token, postgraphile.url);

    if (opts.serve === 1) {
      console.log(
        `Serving the loaded collector until Ctrl-C:\n  gateway      ${ourUrl}  (Authorization: Bearer ${token})\n` +
          `  PostGraphile ${postgraphile.url}\n  subscriber   ${c.subscriberAdminUrl}\n  gateway pid  ${c.gateway.pid}`,
      );
      await new Promise(() => {});
    }
    const runs = new Map<string, { ours: Run[]; theirs: Run[] }>();
    for (const k of cases) runs.set(k.name, { ours: [], theirs: [] });
    for (let round = 1; round <= ROUNDS; round++) {
      for (const k of cases) {
        const r = runs.get(k.name) as { ours: Run[]; theirs: Run[] };
        const sides = [
          async () => {
            await cannon(ourUrl, k.ours, WARMUP, token);
            r.ours.push(await cannon(ourUrl, k.ours, DURATION, token));
          },
          async () => {
            await cannon(postgraphile?.url as string, k.theirs, WARMUP);
            r.theirs.push(await cannon(postgraphile?.url as string, k.theirs, DURATION));
          },
        ];
        // Alternate which server goes first, so a drift in the machine's speed hits both alike.
        if (round % 2 === 0) sides.reverse();
        for (const side of sides) await side();
        const [a, b] = [r.ours.at(-1) as Run, r.theirs.at(-1) as Run];
        say(
          `  round ${round}/${ROUNDS} ${k.name}: ours ${int(a.rps)} req/s, PostGraphile ${int(b.rps)} req/s (${(a.rps / b.rps).toFixed(2)}x)`,
        );
      }
    }

    const version = await serverVersion(c.subscriberAdminUrl);
    console.log(
      `\nThe Collector's gateway vs PostGraphile 5.1.5 on the same subscriber: ${int(ROWS)} rows, ` +
        `${int(ANNOTATIONS)} annotations, ${new Date().toISOString()}`,
    );
    console.log(
      `${os.availableParallelism()} CPUs (${os.cpus()[0]?.model.trim()}); gateway on node ${process.version} ` +
        '(NODE_ENV=production, graphql-jit), ' +
        `PostGraphile on node 22.23.3 (its minimum); PostgreSQL ${version} (embedded); ` +
        `autocannon, ${CONNECTIONS} connections, ${ROUNDS} rounds of ${DURATION} s per server and case, ` +
        'alternating; medians over rounds:\n',
    );
    console.log(
      table(
        [
          'query',
          'ours req/s',
          'PostGraphile req/s',
          'ratio (median, range)',
          'ours p50 / p99 ms',
          'PostGraphile p50 / p99 ms',
        ],
        cases.map((k) => {
          const r = runs.get(k.name) as { ours: Run[]; theirs: Run[] };
          const m = (runs: Run[], f: (x: Run) => number) => median(runs.map(f));
          return [
            k.name,
            int(m(r.ours, (x) => x.rps)),
            int(m(r.theirs, (x) => x.rps)),
            pairedRatio(r.ours, r.theirs, (x) => x.rps),
            `${m(r.ours, (x) => x.p50)} / ${m(r.ours, (x) => x.p99)}`,
            `${m(r.theirs, (x) => x.p50)} / ${m(r.theirs, (x) => x.p99)}`,
          ];
        }),
      ),
    );
  } finally {
    postgraphile?.stop();
    await bench.cleanup();
  }
}

runBench(main);
