/**
 * Reads at scale: the gateway's `data(…)` query over HTTP on a subscriber holding many rows.
 *
 * Boots a fresh local collector (4 publishers) in a temporary directory, then:
 *   1. loads N rows (default 1,000,000) of nested order documents THROUGH the publishers and
 *      logical replication: `INSERT … SELECT … FROM generate_series` on each publisher as its
 *      superuser (the REST API has no batch endpoint yet, and single POSTs would take hours), then
 *      waits until the subscriber holds every row; then N/10 annotations on the subscriber;
 *   2. times, alternating the cases so the machine's noise hits them alike:
 *      the first page of `data(first: 50)`, the page ~10,000 pages deep (a cursor reached by
 *      walking `first: 1000` pages once), a selective `contains`, a numeric path comparison, a
 *      `matches` jsonpath predicate and a JSON-path order, each `first: 50`;
 *   3. prints PostgreSQL's plan for each (the SQL the gateway runs, compiled by the same service
 *      code, EXPLAINed as the subscriber's superuser).
 *
 *   npm run bench:query -- [--rows 50000] [--samples 200]     (or BENCH_ROWS, BENCH_SAMPLES)
 */
import 'reflect-metadata';
import { statfs } from 'node:fs/promises';
import os from 'node:os';
import { type CompiledQuery, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { type LocalCollector } from '../collector/local.js';
import type { DataFilter } from '../common/filter.js';
import type { SubscriberDB } from '../subscriber-graphql/db.js';
import { type DataOrderSpec, listDataOrdered } from '../subscriber-graphql/services/data.js';
import { benchCollector, benchToken, graphql, runBench, type Stats, stats, table } from './lib.js';
import { readOptions } from './options.js';

const opts = readOptions(
  'bench:query',
  "The gateway's data(…) query over HTTP on a subscriber holding --rows rows (loaded through the\n" +
    'publishers and logical replication): first page, a deep page, JSON filters and a JSON-path\n' +
    'order, each timed --samples times, with the plan PostgreSQL chose.',
  {
    rows: { description: 'rows to load', default: 1_000_000, min: 1000, env: 'BENCH_ROWS' },
    samples: { description: 'timed requests per case', default: 200, min: 1, env: 'BENCH_SAMPLES' },
  },
);
const ROWS = opts.rows;
const SAMPLES = opts.samples;
const PUBLISHERS = 4;
/**
 * Rows per INSERT (one transaction each). At 50,000 (about 60 MB of WAL) a busy 2-core machine
 * kept the subscriber's apply worker silent past wal_sender_timeout (60 s): the publisher dropped
 * the connection, and the transaction was sent again from its start, over and over.
 */
const CHUNK = 10_000;
const ANNOTATIONS = Math.floor(ROWS / 10);
const PAGE = 50;
/** 10,000 pages of 50, or half the table when it holds fewer than a million rows. */
const DEEP_ROWS = Math.min(10_000 * PAGE, Math.floor(ROWS / 2000) * 1000);
const WARMUP = 3;
/** A case slower than this in all stops sampling early (at no fewer than MIN_SAMPLES). */
const CASE_BUDGET_MS = 60_000;
const MIN_SAMPLES = 10;
/**
 * The gateway's statement timeout for this run (default 10 s): a JSON-path order with no index
 * sorts the whole table, which on a million rows here takes longer than the default allows.
 */
const STATEMENT_TIMEOUT = '60s';
/** Disk a row takes on all clusters together (heap, indexes, GIN, WAL): a generous estimate. */
const BYTES_PER_ROW = 4096;
/** The selective value: in 1 row of 10,000. */
const NEEDLE = 'GOLDEN-TICKET';

const say = (line: string) => process.stderr.write(`${line}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const int = (n: number) => Math.round(n).toLocaleString('en-US');

/**
 * One realistic order document per series number `n` ($1 to $2), varied with random(). Every
 * lateral subquery mentions `n`, so PostgreSQL evaluates it again for each row instead of once.
 * created_at is clock_timestamp(): rows get distinct times, as they would arriving one by one.
 */
const GENERATE = `
INSERT INTO data (data, created_at)
SELECT jsonb_build_object(
    'orderId', 'ORD-' || lpad(g.n::text, 9, '0'),
    'status', (ARRAY['pending','paid','paid','shipped','shipped','delivered','cancelled','refunded'])[1 + floor(random() * 8)::int],
    'customer', jsonb_build_object(
      'id', 'C' || lpad((1 + floor(random() * 80000)::int)::text, 6, '0'),
      'name', (ARRAY['Ada','Grace','Alan','Edsger','Barbara','Donald','Frances','Ken','Margaret','Linus'])[1 + floor(random() * 10)::int]
        || ' ' || (ARRAY['Lovelace','Hopper','Turing','Dijkstra','Liskov','Knuth','Allen','Thompson','Hamilton','Torvalds'])[1 + floor(random() * 10)::int],
      'email', 'customer' || floor(random() * 80000)::int || '@example.com',
      'address', jsonb_build_object(
        'street', (1 + floor(random() * 200)::int) || ' ' || (ARRAY['Main St','High St','Station Rd','Park Ave','Mill Lane'])[1 + floor(random() * 5)::int],
        'city', (ARRAY['Berlin','Paris','Madrid','Rome','Vienna','Oslo','Lisbon','Dublin','Prague','Warsaw'])[t.c],
        'country', (ARRAY['DE','FR','ES','IT','AT','NO','PT','IE','CZ','PL'])[t.c],
        'zip', lpad(floor(random() * 99999)::int::text, 5, '0'))),
    'items', it.items,
    'amount', round((random() * 1000)::numeric, 2),
    'currency', (ARRAY['EUR','EUR','EUR','USD','GBP'])[1 + floor(random() * 5)::int],
    'tags', tg.tags,
    'createdAt', to_char(t.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'updatedAt', to_char((t.ts + random() * interval '3 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
  ) || CASE
    WHEN g.n % 10000 = 4242 THEN jsonb_build_object('promo', '${NEEDLE}')
    WHEN random() < 0.2 THEN jsonb_build_object('promo', (ARRAY['SPRING10','WELCOME5','FREESHIP'])[1 + floor(random() * 3)::int])
    ELSE '{}'::jsonb
  END,
  clock_timestamp()
FROM generate_series($1::int, $2::int) AS g(n)
CROSS JOIN LATERAL (
  SELECT timestamptz '2026-01-01' + random() * interval '300 days' + g.n * interval '0' AS ts,
         1 + floor(random() * 10)::int + g.n * 0 AS c
) AS t
CROSS JOIN LATERAL (
  SELECT jsonb_agg(jsonb_build_object(
           'sku', 'SKU-' || lpad((1 + floor(random() * 5000)::int)::text, 5, '0'),
           'price', round((1 + random() * 999)::numeric, 2),
           'qty', 1 + floor(random() * 4)::int)) AS items
  FROM generate_series(1, 1 + (hashint4(g.n) & 2147483647) % 5) AS k
) AS it
CROSS JOIN LATERAL (
  SELECT coalesce(jsonb_agg(tag), '[]'::jsonb) AS tags
  FROM unnest(ARRAY['gift','express','b2b','fragile','repeat-customer','newsletter']) AS tag
  WHERE random() < 0.2 + g.n * 0
) AS tg`;

async function count(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM data');
  return Number(rows[0]?.n);
}

async function checkDisk(dir: string): Promise<void> {
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  const need = ROWS * BYTES_PER_ROW + 1024 ** 3;
  const gb = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GB`;
  if (free < need) {
    throw new Error(
      `${dir} has ${gb(free)} free; ${int(ROWS)} rows need about ${gb(need)}. ` +
        'Free some space, or pass a smaller --rows.',
    );
  }
  say(`disk: ${gb(free)} free under ${dir}, about ${gb(need)} needed`);
}

/** Inserts on every publisher at once; reports rows/s; resolves once the subscriber has them all. */
async function load(c: LocalCollector, sub: pg.Client): Promise<number> {
  const t0 = performance.now();
  let inserted = 0;
  const perPublisher = Math.ceil(ROWS / PUBLISHERS);
  const loaders = c.publishers.map(async (p, i) => {
    const client = new pg.Client({ connectionString: p.adminUrl });
    await client.connect();
    try {
      const first = i * perPublisher + 1;
      const last = Math.min(ROWS, (i + 1) * perPublisher);
      for (let from = first; from <= last; from += CHUNK) {
        const to = Math.min(last, from + CHUNK - 1);
        await client.query(GENERATE, [from, to]);
        inserted += to - from + 1;
      }
    } finally {
      await client.end();
    }
  });
  let replicated = 0;
  let last = { t: t0, replicated: 0, inserted: 0 };
  const report = async () => {
    replicated = await count(sub);
    const now = performance.now();
    const dt = (now - last.t) / 1000;
    say(
      `  ${secs(now - t0).padStart(7)}: inserted ${int(inserted)} on publishers ` +
        `(${int((inserted - last.inserted) / dt)} rows/s), subscriber holds ${int(replicated)} ` +
        `(${int((replicated - last.replicated) / dt)} rows/s)`,
    );
    last = { t: now, replicated, inserted };
  };
  let done = false;
  const inserting = Promise.all(loaders).finally(() => {
    done = true;
  });
  // Reported as they happen, so that a failed insert stops the wait below.
  let failure: unknown;
  inserting.catch((e) => {
    failure = e;
  });
  while (!done || replicated < ROWS) {
    await new Promise((r) => setTimeout(r, 5000));
    if (failure) throw failure;
    await report();
    if (done && replicated < ROWS && performance.now() - t0 > 3_600_000) {
      throw new Error(`after an hour the subscriber holds ${replicated} of ${ROWS} rows`);
    }
  }
  await inserting;
  return performance.now() - t0;
}

interface Case {
  name: string;
  filter?: DataFilter;
  orderBy?: DataOrderSpec[];
  after?: string;
  samples: number[];
  spentMs: number;
  /** The first error (a statement timeout, say): the case is not sampled again. */
  error?: string;
}

const PAGE_QUERY = `query Page($first: Int, $after: String, $filter: DataFilter, $orderBy: [DataOrder!]) {
  data(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    nodes { id publisher data createdAt annotations { body author } }
    pageInfo { endCursor hasNextPage }
  }
}`;

const WALK_QUERY = `query Walk($after: String) {
  data(first: 1000, after: $after) { pageInfo { endCursor hasNextPage } }
}`;

interface PageResult {
  data: { nodes: unknown[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } };
}

/** The SQL the gateway runs for a case: the same service code, on a Kysely that only records. */
async function compiledSql(pool: pg.Pool, k: Case): Promise<CompiledQuery> {
  let captured: CompiledQuery | undefined;
  const db = new Kysely<SubscriberDB>({
    dialect: new PostgresDialect({ pool }),
    log(event) {
      if (event.level === 'query') captured = event.query;
    },
  });
  await listDataOrdered(db, { first: PAGE, after: k.after }, k.filter, k.orderBy ?? []);
  if (!captured) throw new Error(`no SQL captured for ${k.name}`);
  return captured;
}

async function plan(pool: pg.Pool, k: Case): Promise<string[]> {
  const q = await compiledSql(pool, k);
  const { rows } = await pool.query<{ 'QUERY PLAN': string }>(
    `EXPLAIN (ANALYZE off, COSTS off) ${q.sql}`,
    q.parameters as unknown[],
  );
  return rows.map((r) => r['QUERY PLAN']);
}

async function main() {
  const bench = await benchCollector('query', PUBLISHERS, {
    env: { COLLECTOR_STATEMENT_TIMEOUT: STATEMENT_TIMEOUT },
  });
  try {
    await checkDisk(bench.dataDir);
    say(`booting a fresh collector (${PUBLISHERS} publishers) in ${bench.dataDir}...`);
    const c = await bench.start();
    const sub = new pg.Client({ connectionString: c.subscriberAdminUrl });
    // Stopping the collector ends these sessions; that must not crash the process before cleanup.
    sub.on('error', () => {});
    await sub.connect();
    const pool = new pg.Pool({ connectionString: c.subscriberAdminUrl, max: 2 });
    pool.on('error', () => {});

    say(`loading ${int(ROWS)} rows through ${PUBLISHERS} publishers (${int(CHUNK)} per INSERT)...`);
    const loadMs = await load(c, sub);
    say(
      `loaded and replicated ${int(ROWS)} rows in ${secs(loadMs)} (${int(ROWS / (loadMs / 1000))} rows/s)`,
    );
    let t0 = performance.now();
    await sub.query(
      `INSERT INTO annotation (data_id, body, author, created_at, updated_at)
       SELECT id, jsonb_build_object('note', 'checked', 'rating', 1 + floor(random() * 5)::int,
                'flag', (ARRAY['ok','ok','review','suspect'])[1 + floor(random() * 4)::int]),
              'admin', at, at
       FROM (SELECT id, created_at + random() * interval '2 days' AS at
             FROM data ORDER BY random() LIMIT $1) AS picked`,
      [ANNOTATIONS],
    );
    const annotateMs = performance.now() - t0;
    say(`${int(ANNOTATIONS)} annotations in ${secs(annotateMs)}`);
    // What autovacuum would have done by the time anyone queries: statistics for the planner, the
    // visibility map, and the GIN index's pending list merged.
    t0 = performance.now();
    await sub.query('VACUUM ANALYZE data');
    await sub.query('VACUUM ANALYZE annotation');
    const vacuumMs = performance.now() - t0;
    say(`VACUUM ANALYZE in ${secs(vacuumMs)}`);
    const { rows: sizes } = await sub.query<{ table: string; total: string }>(
      `SELECT pg_size_pretty(pg_table_size('data')) AS table,
              pg_size_pretty(pg_total_relation_size('data')) AS total`,
    );

    const token = await benchToken(c.gatewayUrl);
    const page = (k: Case) =>
      graphql<PageResult>(c.gatewayUrl, token, PAGE_QUERY, {
        first: PAGE,
        after: k.after ?? null,
        filter: k.filter ?? null,
        orderBy: k.orderBy ?? null,
      });

    say(`walking ${int(DEEP_ROWS)} rows deep in pages of 1,000 for a deep cursor...`);
    t0 = performance.now();
    let deep: string | undefined;
    for (let walked = 0; walked < DEEP_ROWS; walked += 1000) {
      const r = await graphql<PageResult>(c.gatewayUrl, token, WALK_QUERY, { after: deep ?? null });
      deep = r.data.pageInfo.endCursor ?? undefined;
    }
    const walkMs = performance.now() - t0;
    say(`walked in ${secs(walkMs)}`);

    const cases: Case[] = [
      { name: 'first page', samples: [], spentMs: 0 },
      {
        name: `page ${int(DEEP_ROWS / PAGE + 1)} (after ${int(DEEP_ROWS)} rows)`,
        after: deep,
        samples: [],
        spentMs: 0,
      },
      {
        name: `contains {promo: "${NEEDLE}"} (0.01%)`,
        filter: { data: { contains: { promo: NEEDLE } } },
        samples: [],
        spentMs: 0,
      },
      {
        name: 'path amount gt 990 (1%)',
        filter: { data: { path: [{ path: ['amount'], gt: 990 }] } },
        samples: [],
        spentMs: 0,
      },
      {
        name: 'matches $.items[*].price > 990',
        filter: { data: { matches: '$.items[*].price > 990' } },
        samples: [],
        spentMs: 0,
      },
      {
        name: 'orderBy path amount DESC',
        orderBy: [{ path: ['amount'], direction: 'DESC' }],
        samples: [],
        spentMs: 0,
      },
    ];
    const found = new Map<Case, number>();
    const sample = async (k: Case): Promise<number | undefined> => {
      const s = performance.now();
      try {
        found.set(k, (await page(k)).data.nodes.length);
      } catch (e) {
        k.error = (e as Error).message.slice(0, 300);
        say(`${k.name} failed, not sampled again: ${k.error}`);
        return undefined;
      }
      const ms = performance.now() - s;
      k.spentMs += ms;
      return ms;
    };
    for (const k of cases) {
      for (let i = 0; i < WARMUP && !k.error && k.spentMs < CASE_BUDGET_MS / 4; i++)
        await sample(k);
      k.spentMs = 0;
    }
    say(`timing ${cases.length} cases, up to ${SAMPLES} samples each, alternating...`);
    t0 = performance.now();
    for (let round = 0; round < SAMPLES; round++) {
      for (const k of cases) {
        if (k.error || (k.samples.length >= MIN_SAMPLES && k.spentMs > CASE_BUDGET_MS)) continue;
        const ms = await sample(k);
        if (ms !== undefined) k.samples.push(ms);
      }
      if ((round + 1) % 50 === 0)
        say(`  round ${round + 1} of ${SAMPLES}, ${secs(performance.now() - t0)}`);
    }

    const plans = new Map<Case, string[]>();
    for (const k of cases) {
      plans.set(k, await plan(pool, k).catch((e) => [`(EXPLAIN failed: ${(e as Error).message})`]));
    }
    const { rows: version } = await sub.query<{ v: string }>(
      "SELECT current_setting('server_version') AS v",
    );
    await pool.end();
    await sub.end();

    const results = cases.map((k) => [k, stats(k.samples)] as [Case, Stats]);
    const baseline = results[0]?.[1] as Stats;
    console.log(
      `\nThe Collector, reads at scale: ${int(ROWS)} rows from ${PUBLISHERS} publishers, ` +
        `${int(ANNOTATIONS)} annotations, ${new Date().toISOString()}`,
    );
    console.log(
      `${os.availableParallelism()} CPUs (${os.cpus()[0]?.model.trim()}), node ${process.version}, ` +
        `PostgreSQL ${version[0]?.v} (embedded); data table ${sizes[0]?.table}, ` +
        `${sizes[0]?.total} with its indexes`,
    );
    console.log(
      `load: ${secs(loadMs)} for ${int(ROWS)} rows inserted and replicated ` +
        `(${int(ROWS / (loadMs / 1000))} rows/s); ${int(ANNOTATIONS)} annotations ${secs(annotateMs)}; ` +
        `VACUUM ANALYZE ${secs(vacuumMs)}; walk to the deep cursor ${secs(walkMs)}\n`,
    );
    console.log(
      `data(first: ${PAGE}) over HTTP with nodes { id publisher data createdAt annotations { body author } }, ` +
        'sequential, one keep-alive connection:\n',
    );
    console.log(
      table(
        ['query', 'rows', 'samples', 'p50 ms', 'p99 ms', 'p50 vs first page', 'p99 vs first page'],
        results.map(([k, s]) => [
          k.name,
          String(found.get(k) ?? 0),
          String(s.n),
          s.p50.toFixed(2),
          s.p99.toFixed(2),
          `${(s.p50 / baseline.p50).toFixed(2)}x`,
          `${(s.p99 / baseline.p99).toFixed(2)}x`,
        ]),
      ),
    );
    for (const k of cases) if (k.error) console.log(`\n${k.name}: ERROR ${k.error}`);
    console.log(`\nThe gateway's statement timeout for this run: ${STATEMENT_TIMEOUT}.`);
    console.log('\nPlans (EXPLAIN (ANALYZE off, COSTS off) of the SQL the gateway runs):');
    for (const k of cases) {
      console.log(`\n${k.name}:`);
      for (const line of plans.get(k)?.slice(0, 12) ?? []) console.log(`    ${line}`);
    }
  } finally {
    await bench.cleanup();
  }
}

runBench(main);
