/**
 * End-to-end latency: from sending `POST /data` on a publisher until the row is visible through
 * the gateway's GraphQL API (`datum(id:)`), at idle and under a steady open-loop background load,
 * beside the database-level part (publisher created_at → subscriber received_at).
 *
 *   npm run bench:latency [-- --rows 2000 --rate 2000 --publishers 2 --poll-ms 1]
 *
 * How "visible" is seen: after the POST's 201, the probe asks the gateway for `datum(id:) { id }`
 * on its own keep-alive connection, and again `--poll-ms` after each null answer. The figure is
 * the time until the first answer that has the row, so it overstates the true moment by up to
 * one poll interval plus one poll's round trip (both printed). With --poll-ms 0 the polls run back
 * to back: the finest resolution, at the cost of more gateway load.
 */
import 'reflect-metadata';
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pg from 'pg';
import { benchCollector, benchToken, runBench, table } from './lib.js';
import { LoadWorker, type Progress, post } from './load.js';
import { grouped, machine, readOptions, type Summary, sleep, summary } from './options.js';

const opts = readOptions(
  'bench:latency',
  'POST /data → visible through the gateway (GraphQL datum(id:)), p50/p95/p99, at idle and under a\n' +
    'steady open-loop background load of --rate rows/s (single-row POST /data, spread over the\n' +
    'publishers), beside publisher created_at → subscriber received_at. Boots its own collector.',
  {
    rows: { description: 'probe rows per phase', default: 2000, min: 1, env: 'BENCH_ROWS' },
    rate: {
      description: 'background rows/s in the load phase (0: idle phase only)',
      default: 2000,
      min: 0,
    },
    publishers: {
      description: 'publishers to start and spread the load over',
      default: 2,
      min: 1,
      max: 20,
    },
    pollMs: {
      description: 'pause between two GraphQL polls of one probe, ms (0: back to back)',
      default: 1,
      min: 0,
      max: 1000,
      integer: false,
    },
    loadBatch: {
      description:
        'rows per background request: 1 is POST /data, more is POST /data/batch (NDJSON)',
      default: 1,
      min: 1,
      max: 1000,
    },
    warmup: { description: 'probes before each phase, not counted', default: 100, min: 0 },
  },
);

const DATUM = 'query Probe($id: UUID!) { datum(id: $id) { id } }';
const TIMEOUT_MS = 30_000;

interface Phase {
  name: string;
  load?: Progress;
  loadLatency?: Summary;
  /** Event-loop delay of the measuring thread, p99 ms: how much of the figures is the bench's own. */
  loopDelayP99: number;
  post: Summary;
  visible: Summary;
  afterPost: Summary;
  poll: Summary;
  pollsPerProbe: number;
  dbProbes: Summary;
  dbAll: Summary;
  seconds: number;
}

async function main() {
  const bench = await benchCollector('latency', opts.publishers);
  try {
    process.stderr.write(`booting a collector with ${opts.publishers} publisher(s)...\n`);
    const c = await bench.start();
    const token = await benchToken(c.gatewayUrl);
    const sub = new pg.Client({ connectionString: c.subscriberAdminUrl });
    // A server stopped under it (Ctrl-C) must not crash the bench before it cleans up.
    sub.on('error', () => {});
    await sub.connect();
    // Probes, polls and load each have their own connections: none waits behind another.
    const probeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const pollAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const auth = { authorization: `Bearer ${token}` };
    const pubs = c.publishers.map((p) => p.url);
    let seq = 0;
    const body = (kind: string) =>
      JSON.stringify({ data: { kind, seq: seq++, email: 'john@email.com', amount: 123.45 } });

    const pollTimes: number[] = [];
    let polls = 0;
    const probe = async (i: number) => {
      const t0 = performance.now();
      const res = await post(probeAgent, `${pubs[i % pubs.length]}/data`, body('probe'));
      const posted = performance.now();
      if (res.status !== 201) throw new Error(`POST /data: HTTP ${res.status} ${res.text}`);
      const id = (JSON.parse(res.text) as { id: string }).id;
      for (;;) {
        const p0 = performance.now();
        const r = await post(
          pollAgent,
          `${c.gatewayUrl}/graphql`,
          JSON.stringify({ query: DATUM, variables: { id } }),
          auth,
        );
        const p1 = performance.now();
        pollTimes.push(p1 - p0);
        polls += 1;
        const parsed = JSON.parse(r.text) as {
          data?: { datum: { id: string } | null };
          errors?: unknown;
        };
        if (r.status !== 200 || parsed.errors)
          throw new Error(`GraphQL: HTTP ${r.status} ${r.text}`);
        if (parsed.data?.datum)
          return { id, post: posted - t0, visible: p1 - t0, afterPost: p1 - posted };
        if (p1 - t0 > TIMEOUT_MS) throw new Error(`row ${id} not visible after ${TIMEOUT_MS} ms`);
        if (opts.pollMs > 0) await sleep(opts.pollMs);
      }
    };

    const dbClock = async () =>
      (await sub.query<{ t: string }>('SELECT clock_timestamp()::text AS t')).rows[0]?.t as string;
    const dbStats = async (where: string, values: unknown[]) => {
      const { rows } = await sub.query<{ ms: number }>(
        `SELECT extract(epoch FROM received_at - created_at)::float8 * 1000 AS ms FROM data WHERE ${where}`,
        values,
      );
      return summary(rows.map((r) => r.ms));
    };

    const runPhase = async (name: string, rate: number): Promise<Phase> => {
      let load: LoadWorker | undefined;
      if (rate > 0) {
        load = new LoadWorker({
          targets: pubs,
          mode: 'open',
          rate,
          connections: 0,
          batch: opts.loadBatch,
          tag: 'latency',
        });
        await load.started();
        await sleep(3000); // let the load settle before measuring
      }
      for (let i = 0; i < opts.warmup; i++) await probe(i);
      const from = await dbClock();
      const began = performance.now();
      const loopDelay = monitorEventLoopDelay({ resolution: 1 });
      loopDelay.enable();
      pollTimes.length = 0;
      polls = 0;
      const samples: Array<Awaited<ReturnType<typeof probe>>> = [];
      let lastReport = began;
      for (let i = 0; i < opts.rows; i++) {
        samples.push(await probe(i));
        if (performance.now() - lastReport > 2000) {
          lastReport = performance.now();
          const s = summary(samples.map((x) => x.visible));
          const p = load?.progress();
          const l = p
            ? `; background ${grouped(p.rowRate)} rows/s, ${p.pending} in flight, ${p.missed} missed`
            : '';
          process.stderr.write(
            `  ${name}: ${samples.length}/${opts.rows} probes, visible p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms${l}\n`,
          );
        }
      }
      const seconds = (performance.now() - began) / 1000;
      loopDelay.disable();
      const loaded = await load?.stop();
      if (loaded?.firstError)
        process.stderr.write(`  background load error: ${loaded.firstError}\n`);
      const to = await dbClock();
      // The rows of the phase on the subscriber, probes and background alike (all replicated by
      // now: every probe was seen, and replication applies in commit order per publisher).
      await sleep(500);
      return {
        name,
        load: loaded,
        loadLatency: loaded ? summary(loaded.latencies) : undefined,
        loopDelayP99: loopDelay.percentile(99) / 1e6,
        seconds,
        post: summary(samples.map((s) => s.post)),
        visible: summary(samples.map((s) => s.visible)),
        afterPost: summary(samples.map((s) => s.afterPost)),
        poll: summary(pollTimes),
        pollsPerProbe: polls / samples.length,
        dbProbes: await dbStats('id = ANY($1::uuid[])', [samples.map((s) => s.id)]),
        dbAll: await dbStats('created_at >= $1 AND created_at <= $2', [from, to]),
      };
    };

    const phases: Phase[] = [];
    process.stderr.write(`idle: ${opts.warmup} warm-up + ${opts.rows} probes, one at a time\n`);
    phases.push(await runPhase('idle', 0));
    if (opts.rate > 0) {
      process.stderr.write(
        `under load: ${grouped(opts.rate)} rows/s open-loop over ${pubs.length} publisher(s) (${opts.loadBatch === 1 ? 'POST /data' : `POST /data/batch of ${opts.loadBatch}`}), ${opts.warmup} warm-up + ${opts.rows} probes\n`,
      );
      phases.push(await runPhase('load', opts.rate));
    }
    await sub.end();
    probeAgent.destroy();
    pollAgent.destroy();

    const ms = (s: Summary) => [s.p50, s.p95, s.p99, s.max].map((v) => v.toFixed(1));
    const rows: string[][] = [];
    for (const p of phases) {
      const bg = p.load ? `${grouped(p.load.rowRate)} rows/s` : 'idle';
      rows.push([bg, 'POST /data → visible via GraphQL', ...ms(p.visible), String(p.visible.n)]);
      rows.push([bg, '  of which POST /data (201)', ...ms(p.post), String(p.post.n)]);
      rows.push([bg, '  of which 201 → seen by a poll', ...ms(p.afterPost), String(p.afterPost.n)]);
      rows.push([bg, 'one GraphQL poll (resolution)', ...ms(p.poll), String(p.poll.n)]);
      rows.push([bg, 'created_at → received_at, probes', ...ms(p.dbProbes), String(p.dbProbes.n)]);
      rows.push([bg, 'created_at → received_at, all rows', ...ms(p.dbAll), String(p.dbAll.n)]);
      if (p.loadLatency) {
        const l = p.loadLatency;
        const what = opts.loadBatch > 1 ? `POST /data/batch of ${opts.loadBatch}` : 'POST /data';
        rows.push([bg, `background ${what} (from schedule)`, ...ms(l), String(l.n)]);
      }
    }
    console.log(
      `\nThe Collector, end-to-end latency (npm run bench:latency -- --rows ${opts.rows} --rate ${opts.rate} --publishers ${opts.publishers} --poll-ms ${opts.pollMs} --load-batch ${opts.loadBatch}), ${new Date().toISOString()}`,
    );
    console.log(
      `${machine()}; PostgreSQL 18 (embedded), ${opts.publishers} publisher(s) + subscriber on 127.0.0.1\n`,
    );
    console.log(
      table(['background', 'measure', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'n'], rows),
    );
    for (const p of phases) {
      const l = p.load;
      console.log(
        `\n${p.name}: ${p.seconds.toFixed(1)} s, ${p.pollsPerProbe.toFixed(2)} polls per probe, poll pause ${opts.pollMs} ms, ` +
          `event-loop delay of the measuring thread p99 ${p.loopDelayP99.toFixed(1)} ms` +
          (l
            ? `; background target ${grouped(opts.rate)} rows/s, sent ${grouped(l.sent)}, answered 201 ${grouped(l.ok)}, failed ${l.failed}, missed ${l.missed}`
            : ''),
      );
    }
    const load = phases.find((p) => p.load);
    if (load?.load && load.load.rowRate < 0.95 * opts.rate) {
      console.log(
        `\nwarning: the background load reached ${grouped(load.load.rowRate)} of ${grouped(opts.rate)} rows/s: ` +
          'this machine could not take the target rate, so the figures under load measure a saturated system ' +
          '(requests queued in the publishers), not the replication path.',
      );
    }
    if (load) {
      const ok = load.visible.p99 < 50;
      console.log(
        `\ngoal p99 < 50 ms under load: ${ok ? 'met' : 'NOT met'} (${load.visible.p99.toFixed(1)} ms)`,
      );
    }
  } finally {
    await bench.cleanup();
  }
}

runBench(main);
