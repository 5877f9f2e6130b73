/**
 * uuidv7() (PostgreSQL 18) against gen_random_uuid() (v4) as the id default, at a million rows and
 * more, on a publisher and through replication into a subscriber.
 *
 *   npm run bench:ids [-- --rows 1000000 --batch 10000 --rounds 10 --single 5000]
 *
 * It boots its own collector (1 publisher) and, beside the collector's own tables, creates two
 * tables shaped like the publisher's `data` (uuid primary key with the default under test,
 * publisher, jsonb data, created_at, and the (created_at, id) index), each in its own publication,
 * and the same two tables on the subscriber (primary key and (created_at, id), no default), each
 * with its own subscription. The GIN index on the subscriber's `data` is left out: it costs both
 * variants the same and would only hide the difference.
 *
 * Each round inserts rows/rounds rows into each table, in multi-row INSERTs of --batch rows that
 * alternate between the two tables (which one goes first alternates too), with both
 * subscriptions disabled; then enables one subscription at a time (alternating which) and times
 * how long the subscriber takes to apply that table's backlog. At the end: single-row INSERTs
 * (autocommit, one prepared statement, alternating) into the tables as they are then, and the
 * index sizes on both sides.
 */
import 'reflect-metadata';
import pg from 'pg';
import { benchCollector, runBench, table } from './lib.js';
import { grouped, machine, readOptions, sleep } from './options.js';

const opts = readOptions(
  'bench:ids',
  'uuidv7() against gen_random_uuid() as the id default: bulk and single-row inserts, WAL, index\n' +
    "size, and the subscriber's apply rate, at --rows rows per table. Boots its own collector.",
  {
    rows: { description: 'rows per table', default: 1_000_000, min: 1000, env: 'BENCH_ROWS' },
    batch: { description: 'rows per multi-row INSERT', default: 10_000, min: 1 },
    rounds: { description: 'rounds (the subscriber catches up after each)', default: 10, min: 1 },
    single: { description: 'single-row INSERTs per table at the end', default: 5000, min: 1 },
  },
);

const VARIANTS = [
  { key: 'v4', fn: 'gen_random_uuid()', label: 'gen_random_uuid() (v4)' },
  { key: 'v7', fn: 'uuidv7()', label: 'uuidv7()' },
] as const;
type Key = (typeof VARIANTS)[number]['key'];

const ROW = `jsonb_build_object('email', 'john@email.com', 'amount', g, 'tags', jsonb_build_array('a', 'b'))`;

async function main() {
  const bench = await benchCollector('ids', 1);
  const clients: pg.Client[] = [];
  try {
    process.stderr.write('booting a collector with 1 publisher...\n');
    const c = await bench.start();
    const pubInfo = c.publishers[0];
    if (!pubInfo) throw new Error('no publisher');
    const connect = async (url: string) => {
      const client = new pg.Client({ connectionString: url });
      // A server stopped under it (Ctrl-C) must not crash the bench before it cleans up.
      client.on('error', () => {});
      await client.connect();
      clients.push(client);
      return client;
    };
    const pub = await connect(pubInfo.adminUrl);
    const sub = await connect(c.subscriberAdminUrl);
    const url = new URL(pubInfo.adminUrl);

    for (const v of VARIANTS) {
      await pub.query(`CREATE TABLE ids_${v.key} (
        id uuid PRIMARY KEY DEFAULT ${v.fn},
        publisher text NOT NULL DEFAULT 'pub1',
        data jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now())`);
      await pub.query(`CREATE INDEX ON ids_${v.key} (created_at, id)`);
      await pub.query(`CREATE PUBLICATION bench_ids_${v.key} FOR TABLE ids_${v.key}`);
      await sub.query(`CREATE TABLE ids_${v.key} (
        id uuid PRIMARY KEY,
        publisher text NOT NULL,
        data jsonb NOT NULL,
        created_at timestamptz NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now())`);
      await sub.query(`CREATE INDEX ON ids_${v.key} (created_at, id)`);
      const quoted = (x: string) => `'${x.replace(/[\\']/g, (m) => `\\${m}`)}'`;
      const conninfo = `host=127.0.0.1 port=${url.port} dbname=collector user=postgres password=${quoted(decodeURIComponent(url.password))}`;
      await sub.query(
        `CREATE SUBSCRIPTION bench_ids_${v.key} CONNECTION ${pg.escapeLiteral(conninfo)} ` +
          `PUBLICATION bench_ids_${v.key} WITH (copy_data = false, enabled = false)`,
      );
    }

    // Generating the ids alone, without a table: what each default costs by itself.
    const genNs: Record<Key, number> = { v4: 0, v7: 0 };
    for (let r = 0; r < 2; r++) {
      for (const v of r % 2 ? [...VARIANTS].reverse() : VARIANTS) {
        const t0 = performance.now();
        await pub.query(`SELECT count(${v.fn}) FROM generate_series(1, 1000000)`);
        // ms for a million ids = ns per id
        genNs[v.key] += (performance.now() - t0) / 2;
      }
    }

    const walNow = async () =>
      (await pub.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]
        ?.lsn as string;
    const walSince = async (lsn: string) =>
      Number(
        (await pub.query<{ b: string }>('SELECT pg_current_wal_lsn() - $1::pg_lsn AS b', [lsn]))
          .rows[0]?.b,
      );

    const insertMs: Record<Key, number> = { v4: 0, v7: 0 };
    const walBytes: Record<Key, number> = { v4: 0, v7: 0 };
    const applyMs: Record<Key, number> = { v4: 0, v7: 0 };
    const inserted: Record<Key, number> = { v4: 0, v7: 0 };
    const perRound = Math.ceil(opts.rows / opts.rounds);
    const began = performance.now();
    for (let round = 0; round < opts.rounds; round++) {
      const order = round % 2 ? [...VARIANTS].reverse() : [...VARIANTS];
      for (let done = 0; done < perRound; done += opts.batch) {
        const n = Math.min(opts.batch, perRound - done);
        for (const v of order) {
          const lsn = await walNow();
          const t0 = performance.now();
          await pub.query(
            `INSERT INTO ids_${v.key} (data) SELECT ${ROW} FROM generate_series(1, $1) g`,
            [n],
          );
          insertMs[v.key] += performance.now() - t0;
          walBytes[v.key] += await walSince(lsn);
          inserted[v.key] += n;
        }
      }
      // The subscriber: one backlog at a time, ended by a marker row.
      for (const v of order) {
        const marker = (
          await pub.query<{ id: string }>(
            `INSERT INTO ids_${v.key} (data) VALUES ('{"marker": true}') RETURNING id`,
          )
        ).rows[0]?.id;
        const t0 = performance.now();
        await sub.query(`ALTER SUBSCRIPTION bench_ids_${v.key} ENABLE`);
        for (;;) {
          const { rowCount } = await sub.query(`SELECT 1 FROM ids_${v.key} WHERE id = $1`, [
            marker,
          ]);
          if (rowCount) break;
          if (performance.now() - t0 > 600_000)
            throw new Error(`ids_${v.key}: not applied in 10 minutes`);
          await sleep(10);
        }
        applyMs[v.key] += performance.now() - t0;
        await sub.query(`ALTER SUBSCRIPTION bench_ids_${v.key} DISABLE`);
      }
      const rate = (k: Key) => grouped(inserted[k] / (insertMs[k] / 1000));
      const apply = (k: Key) => grouped(inserted[k] / (applyMs[k] / 1000));
      process.stderr.write(
        `  round ${round + 1}/${opts.rounds}: ${grouped(inserted.v4)} rows per table; insert v4 ${rate('v4')}/s, v7 ${rate('v7')}/s; ` +
          `subscriber applies v4 ${apply('v4')}/s, v7 ${apply('v7')}/s (${((performance.now() - began) / 1000).toFixed(0)} s)\n`,
      );
    }
    // Let the apply workers exit before the single-row inserts.
    await sleep(500);

    // Single-row INSERTs into the full tables, alternating, one prepared statement each.
    process.stderr.write(`single-row inserts: ${grouped(opts.single)} per table, alternating\n`);
    const singleMs: Record<Key, number> = { v4: 0, v7: 0 };
    for (let i = 0; i < opts.single; i++) {
      for (const v of i % 2 ? [...VARIANTS].reverse() : VARIANTS) {
        const t0 = performance.now();
        await pub.query({
          name: `single_${v.key}`,
          text: `INSERT INTO ids_${v.key} (data) VALUES ($1::jsonb) RETURNING id, created_at`,
          values: [`{"email": "john@email.com", "amount": ${i}}`],
        });
        singleMs[v.key] += performance.now() - t0;
      }
    }
    // The subscriber's copy complete, for its index sizes.
    for (const v of VARIANTS) await sub.query(`ALTER SUBSCRIPTION bench_ids_${v.key} ENABLE`);
    const counts = async (client: pg.Client) =>
      (
        await client.query<{ v4: string; v7: string }>(
          'SELECT (SELECT count(*) FROM ids_v4) AS v4, (SELECT count(*) FROM ids_v7) AS v7',
        )
      ).rows[0];
    const want = await counts(pub);
    for (;;) {
      const have = await counts(sub);
      if (have?.v4 === want?.v4 && have?.v7 === want?.v7) break;
      await sleep(200);
    }
    const sizes = async (client: pg.Client, k: Key) =>
      (
        await client.query<{ pk: string; ts: string }>(
          `SELECT pg_relation_size('ids_${k}_pkey') AS pk,
                  pg_relation_size('ids_${k}_created_at_id_idx') AS ts`,
        )
      ).rows[0] as { pk: string; ts: string };
    const size = {
      pub: {} as Record<Key, { pk: string; ts: string }>,
      sub: {} as Record<Key, { pk: string; ts: string }>,
    };
    for (const v of VARIANTS) {
      size.pub[v.key] = await sizes(pub, v.key);
      size.sub[v.key] = await sizes(sub, v.key);
    }
    for (const v of VARIANTS) await sub.query(`DROP SUBSCRIPTION bench_ids_${v.key}`);

    const mib = (b: string | number) => `${(Number(b) / 1024 / 1024).toFixed(1)} MiB`;
    const row = (
      name: string,
      f: (k: Key) => number,
      show: (x: number) => string,
      higherIsBetter: boolean,
    ) => {
      const [a, b] = [f('v4'), f('v7')];
      return [
        name,
        show(a),
        show(b),
        `${(b / a).toFixed(2)}x${higherIsBetter ? '' : ' (lower is better)'}`,
      ];
    };
    console.log(
      `\nThe Collector, id default (npm run bench:ids -- --rows ${opts.rows} --batch ${opts.batch} --rounds ${opts.rounds} --single ${opts.single}), ${new Date().toISOString()}`,
    );
    console.log(`${machine()}; PostgreSQL 18 (embedded), 1 publisher + subscriber on 127.0.0.1\n`);
    console.log(
      table(
        ['measure', VARIANTS[0].label, VARIANTS[1].label, 'v7 / v4'],
        [
          row(
            'generating 1M ids alone, ns per id',
            (k) => genNs[k],
            (x) => x.toFixed(0),
            false,
          ),
          row(
            `bulk INSERT, ${grouped(opts.batch)}-row statements, 0 → ${grouped(inserted.v4)} rows, rows/s`,
            (k) => inserted[k] / (insertMs[k] / 1000),
            grouped,
            true,
          ),
          row(
            'WAL per row, bytes',
            (k) => walBytes[k] / inserted[k],
            (x) => x.toFixed(0),
            false,
          ),
          row(
            `single-row INSERT at ${grouped(inserted.v4)}+ rows, rows/s (1 connection)`,
            (k) => opts.single / (singleMs[k] / 1000),
            grouped,
            true,
          ),
          row(
            'subscriber applying the backlog, rows/s',
            (k) => inserted[k] / (applyMs[k] / 1000),
            grouped,
            true,
          ),
          row('primary key index, publisher', (k) => Number(size.pub[k].pk), mib, false),
          row('primary key index, subscriber', (k) => Number(size.sub[k].pk), mib, false),
          row('(created_at, id) index, publisher', (k) => Number(size.pub[k].ts), mib, false),
        ],
      ),
    );
  } finally {
    await Promise.allSettled(clients.map((c) => c.end()));
    await bench.cleanup();
  }
}

runBench(main);
