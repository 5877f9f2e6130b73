/**
 * Scale on one machine: many publishers written at once, as fast as they take it (or at a set
 * rate), and whether the one subscriber keeps up.
 *
 *   npm run bench:scale [-- --publishers 8 --seconds 30 --batch 500 --connections 2]
 *
 * It boots its own collector, drives every publisher's POST /data/batch from a worker thread, and
 * samples twice a second how far each subscription's applied position (the subscriber's
 * replication origin, `pg_replication_origin_status.remote_lsn`: the end of the last transaction
 * it committed from that publisher) trails the publisher's WAL, beside `pg_stat_replication`'s
 * `replay_lag` and the slot's `confirmed_flush_lsn`. Rows per second stored and applied come
 * afterwards from the rows themselves (created_at on the publishers, received_at on the
 * subscriber), as does the largest lag in seconds (received_at − created_at).
 */
import 'reflect-metadata';
import pg from 'pg';
import { benchCollector, runBench, table } from './lib.js';
import { LoadWorker } from './load.js';
import { grouped, machine, readOptions, sleep, summary } from './options.js';

const opts = readOptions(
  'bench:scale',
  'Drives every publisher at once through POST /data/batch and reports the rows/s stored and\n' +
    'applied on the subscriber, and the largest replication lag (bytes and seconds). Boots its own\n' +
    'collector with --publishers publishers.',
  {
    publishers: { description: 'publishers to start and drive', default: 8, min: 1, max: 40 },
    seconds: { description: 'how long the load runs', default: 30, min: 1 },
    batch: {
      description: 'rows per POST /data/batch (1: single-row POST /data)',
      default: 500,
      min: 1,
      max: 10000,
    },
    connections: {
      description: 'requests in flight per publisher (closed loop)',
      default: 2,
      min: 1,
    },
    rate: {
      description: 'total rows/s on a schedule (open loop); 0: as fast as the publishers answer',
      default: 0,
      min: 0,
    },
  },
);

interface Sample {
  t: number;
  /** Per publisher: WAL not yet applied on the subscriber, bytes. */
  appliedLag: number[];
  /** Per publisher: WAL not yet confirmed by the subscriber (what the slot retains), bytes. */
  slotLag: number[];
  /** Per publisher: pg_stat_replication.replay_lag, seconds (null: caught up). */
  replayLag: Array<number | null>;
}

async function main() {
  const bench = await benchCollector('scale', opts.publishers);
  const clients: pg.Client[] = [];
  try {
    process.stderr.write(`booting a collector with ${opts.publishers} publishers...\n`);
    const bootStart = performance.now();
    const c = await bench.start();
    const bootSeconds = (performance.now() - bootStart) / 1000;
    const connect = async (url: string) => {
      const client = new pg.Client({ connectionString: url });
      // A server stopped under it (Ctrl-C) must not crash the bench before it cleans up.
      client.on('error', () => {});
      await client.connect();
      clients.push(client);
      return client;
    };
    const sub = await connect(c.subscriberAdminUrl);
    const pubs = await Promise.all(c.publishers.map((p) => connect(p.adminUrl)));
    const workers = await sub.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings WHERE name IN ('max_logical_replication_workers',
         'max_active_replication_origins', 'max_worker_processes') ORDER BY name`,
    );
    // Subscription name → its origin on the subscriber (pg_<subscription oid>).
    const origins = await sub.query<{ subname: string; roname: string }>(
      `SELECT subname, 'pg_' || oid AS roname FROM pg_subscription ORDER BY subname`,
    );
    const originOf = new Map(
      origins.rows.map((r) => [r.subname.replace(/^collector_/, ''), r.roname]),
    );

    const sample = async (): Promise<Sample> => {
      const t = performance.now();
      const applied = await sub.query<{ roname: string; lsn: string | null }>(
        'SELECT external_id AS roname, remote_lsn::text AS lsn FROM pg_replication_origin_status',
      );
      const appliedAt = new Map(applied.rows.map((r) => [r.roname, r.lsn ?? '0/0']));
      const perPub = await Promise.all(
        pubs.map((p, i) =>
          p.query<{ applied: string; slot: string; replay: number | null }>(
            `SELECT (pg_current_wal_lsn() - $1::pg_lsn)::float8 AS applied,
                    (SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::float8
                       FROM pg_replication_slots WHERE slot_type = 'logical' AND NOT temporary
                       ORDER BY slot_name LIMIT 1) AS slot,
                    (SELECT extract(epoch FROM max(replay_lag))::float8 FROM pg_stat_replication) AS replay`,
            [appliedAt.get(originOf.get(c.publishers[i]?.name ?? '') ?? '') ?? '0/0'],
          ),
        ),
      );
      return {
        t,
        appliedLag: perPub.map((r) => Math.max(0, Number(r.rows[0]?.applied ?? 0))),
        slotLag: perPub.map((r) => Math.max(0, Number(r.rows[0]?.slot ?? 0))),
        replayLag: perPub.map((r) => r.rows[0]?.replay ?? null),
      };
    };

    const load = new LoadWorker({
      targets: c.publishers.map((p) => p.url),
      mode: opts.rate > 0 ? 'open' : 'closed',
      rate: opts.rate,
      connections: opts.connections,
      batch: opts.batch,
      tag: 'scale',
    });
    process.stderr.write(
      `driving ${opts.publishers} publishers for ${opts.seconds} s: ` +
        (opts.rate > 0
          ? `${grouped(opts.rate)} rows/s on a schedule`
          : `${opts.connections} request(s) in flight each, as fast as they answer`) +
        `, ${opts.batch === 1 ? 'POST /data' : `POST /data/batch of ${opts.batch} rows (NDJSON)`}\n`,
    );
    await load.started();
    const began = performance.now();
    const samples: Sample[] = [];
    let lastReport = began;
    while (performance.now() - began < opts.seconds * 1000) {
      const s = await sample();
      samples.push(s);
      if (s.t - lastReport >= 2000) {
        lastReport = s.t;
        const p = load.progress();
        process.stderr.write(
          `  ${((s.t - began) / 1000).toFixed(0).padStart(3)} s: stored ${grouped(p.rows)} rows (${grouped(p.rowRate)}/s), ` +
            `lag not yet applied: ${grouped(s.appliedLag.reduce((a, b) => a + b, 0) / 1024)} KiB in total, ` +
            `${grouped(Math.max(...s.appliedLag) / 1024)} KiB the most on one publisher\n`,
        );
      }
      await sleep(500);
    }
    const stopped = performance.now();
    const result = await load.stop();
    if (result.firstError) process.stderr.write(`  load error: ${result.firstError}\n`);

    // Until the subscriber holds every row the publishers hold.
    const counts = await Promise.all(
      pubs.map(async (p) => Number((await p.query('SELECT count(*) AS n FROM data')).rows[0]?.n)),
    );
    const stored = counts.reduce((a, b) => a + b, 0);
    process.stderr.write(
      `load stopped: ${grouped(stored)} rows stored; waiting for the subscriber...\n`,
    );
    let caughtUp = Number.NaN;
    let lastCatchUpReport = performance.now();
    for (;;) {
      const s = await sample();
      samples.push(s);
      if (s.t - lastCatchUpReport >= 5000) {
        lastCatchUpReport = s.t;
        process.stderr.write(
          `  ${((s.t - stopped) / 1000).toFixed(0).padStart(3)} s after: ${grouped(s.appliedLag.reduce((a, b) => a + b, 0) / 1024)} KiB not yet applied\n`,
        );
      }
      // By rows, not by LSN: after the load, a publisher's WAL moves on without any replicated
      // transaction (autovacuum, checkpoints), which no origin position ever reaches.
      const n = Number((await sub.query('SELECT count(*) AS n FROM data')).rows[0]?.n);
      if (n >= stored) {
        caughtUp = (performance.now() - stopped) / 1000;
        break;
      }
      if (performance.now() - stopped > 600_000)
        throw new Error('the subscriber did not catch up in 10 minutes');
      await sleep(500);
    }

    // Per second, from the rows: stored on the publishers, applied on the subscriber.
    const perSecond = async (client: pg.Client, column: string) =>
      (
        await client.query<{ s: string; n: number }>(
          `SELECT extract(epoch FROM date_trunc('second', ${column}))::bigint::text AS s, count(*)::int AS n
             FROM data GROUP BY 1`,
        )
      ).rows;
    const storedPerSecond = new Map<string, number>();
    for (const p of pubs) {
      for (const r of await perSecond(p, 'created_at')) {
        storedPerSecond.set(r.s, (storedPerSecond.get(r.s) ?? 0) + r.n);
      }
    }
    const appliedRows = await perSecond(sub, 'received_at');
    const appliedPerSecond = new Map(appliedRows.map((r) => [r.s, r.n]));
    // Whole seconds only: the load window is the seconds that stored rows, without the partial
    // first and last; the catch-up is what the subscriber applied after it.
    const storedSeconds = [...storedPerSecond.keys()].sort();
    const window = storedSeconds.slice(1, -1);
    const lastStored = storedSeconds[storedSeconds.length - 1] ?? '0';
    const storedRates = window.map((s) => storedPerSecond.get(s) ?? 0);
    const appliedRates = window.map((s) => appliedPerSecond.get(s) ?? 0);
    const catchUp = [...appliedPerSecond.keys()]
      .sort()
      .filter((s) => s > lastStored)
      .slice(0, -1);
    const catchUpRates = catchUp.map((s) => appliedPerSecond.get(s) ?? 0);
    const lagSeconds = await sub.query<{ p50: number; p99: number; max: number }>(
      `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50,
              percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99, max(ms) AS max
         FROM (SELECT extract(epoch FROM received_at - created_at)::float8 * 1000 AS ms FROM data) d`,
    );
    const lag = lagSeconds.rows[0] as { p50: number; p99: number; max: number };
    const maxOf = (xs: number[]) => xs.reduce((a, b) => Math.max(a, b), 0);
    const maxApplied = maxOf(samples.map((s) => maxOf(s.appliedLag)));
    const maxAppliedTotal = maxOf(samples.map((s) => s.appliedLag.reduce((a, b) => a + b, 0)));
    const maxSlot = maxOf(samples.map((s) => maxOf(s.slotLag)));
    const maxReplay = maxOf(samples.map((s) => maxOf(s.replayLag.map((x) => x ?? 0))));
    const loadSeconds = (stopped - began) / 1000;
    const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
    const storedAll = summary(storedRates);
    const appliedAll = summary(appliedRates);
    const catchUpAll = summary(catchUpRates);

    console.log(
      `\nThe Collector, scale (npm run bench:scale -- --publishers ${opts.publishers} --seconds ${opts.seconds} --batch ${opts.batch} --connections ${opts.connections} --rate ${opts.rate}), ${new Date().toISOString()}`,
    );
    console.log(
      `${machine()}; PostgreSQL 18 (embedded), ${opts.publishers} publishers + subscriber on 127.0.0.1; ` +
        `subscriber ${workers.rows.map((r) => `${r.name}=${r.setting}`).join(', ')}; collector booted in ${bootSeconds.toFixed(1)} s\n`,
    );
    console.log(
      table(
        ['measure', 'value'],
        [
          ['rows stored on the publishers', `${grouped(stored)} in ${loadSeconds.toFixed(1)} s`],
          [
            'stored, rows/s (mean over whole seconds; best second)',
            `${grouped(storedAll.mean)}; ${grouped(storedAll.max)}`,
          ],
          [
            'applied on the subscriber, rows/s, same seconds',
            `${grouped(appliedAll.mean)}; ${grouped(appliedAll.max)}`,
          ],
          [
            'applied on the subscriber, rows/s, catching up after the load',
            catchUpRates.length
              ? `${grouped(catchUpAll.mean)}; ${grouped(catchUpAll.max)}`
              : '(no backlog)',
          ],
          ['subscriber caught up, after the load stopped', `${caughtUp.toFixed(1)} s`],
          ['largest lag not yet applied, one publisher', mib(maxApplied)],
          ['largest lag not yet applied, all publishers together', mib(maxAppliedTotal)],
          ['largest WAL kept by a slot (not yet confirmed)', mib(maxSlot)],
          ['largest replay_lag (pg_stat_replication)', `${maxReplay.toFixed(2)} s`],
          [
            'created_at → received_at, p50 / p99 / max',
            `${(lag.p50 / 1000).toFixed(2)} / ${(lag.p99 / 1000).toFixed(2)} / ${(lag.max / 1000).toFixed(2)} s`,
          ],
          ['requests: answered 201 / failed', `${grouped(result.ok)} / ${grouped(result.failed)}`],
        ],
      ),
    );
    // Timeline over the load and the catch-up, in up to 15 rows, with the lag sampled meanwhile.
    const all = [...window, ...catchUp];
    const first = Number(all[0] ?? 0);
    const step = Math.max(1, Math.ceil(all.length / 15));
    const lagAt = (second: number) => {
      // Samples are in performance.now() time; the first whole second of the window began about
      // one second after the load started.
      const at = began + second * 1000;
      const near = samples.reduce((a, b) => (Math.abs(b.t - at) < Math.abs(a.t - at) ? b : a));
      return near.appliedLag.reduce((a, b) => a + b, 0);
    };
    const timeline: string[][] = [];
    for (let i = 0; i < all.length; i += step) {
      const part = all.slice(i, i + step);
      const mean = (m: Map<string, number>) =>
        part.reduce((a, s) => a + (m.get(s) ?? 0), 0) / part.length;
      const t0 = Number(part[0]) - first + 1;
      const t1 = Number(part[part.length - 1]) - first + 2;
      timeline.push([
        `${t0}–${t1} s`,
        grouped(mean(storedPerSecond)),
        grouped(mean(appliedPerSecond)),
        mib(lagAt(t1)),
      ]);
    }
    console.log(
      `\n${table(['seconds after the start', 'stored rows/s', 'applied rows/s', 'not yet applied, all publishers'], timeline)}`,
    );
    const kept = appliedAll.mean >= 0.95 * storedAll.mean;
    console.log(
      `\nThe subscriber ${kept ? 'kept up' : 'fell behind'}: while the load ran it applied ${((appliedAll.mean / storedAll.mean) * 100).toFixed(0)}% ` +
        `of the rows/s the publishers stored, and caught up ${caughtUp.toFixed(1)} s after the load stopped.`,
    );
  } finally {
    await Promise.allSettled(clients.map((c) => c.end()));
    await bench.cleanup();
  }
}

runBench(main);
