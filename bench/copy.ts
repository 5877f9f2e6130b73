/**
 * Which statement POST /data/batch should store its rows with, measured: the API's multi-row
 * INSERT against COPY FROM STDIN, both driven from Node over `pg` as the API would drive them,
 * one transaction per batch, on a fresh collector (1 publisher, as deployed: the subscriber
 * replicates every row).
 *
 *   - INSERT: the API's own code (`insertMany` on the group commit's connections): one prepared
 *     statement per batch, its rows joined into one parameter, answering the ids, the publisher
 *     and the time in one row.
 *   - COPY, ids read back: what COPY needs to answer the same. COPY has no RETURNING, and the
 *     API's role may insert only the `data` column (the database draws every id), so after the
 *     COPY, in the same transaction, one more statement reads the ids the transaction stored (its
 *     own rows, by xmin, from the primary key's range that starts at the transaction's start:
 *     uuidv7 ids rise with time, and within a session they rise strictly, so their order is
 *     the input's). A count that differs, or an id that is not a uuidv7, rolls the batch back.
 *     Each item's `data` member is cut out of its text and escaped for COPY's text format, as
 *     the API would have to, and the answer is built as `insertMany` builds it. BEGIN, COPY (two:
 *     pg-copy-streams sends the rows once the server has answered the COPY), SELECT, COMMIT:
 *     five round trips where the INSERT has one.
 *   - COPY, ids not read: BEGIN, COPY, COMMIT (four round trips), to show what reading the ids
 *     back costs.
 *
 * Each side runs `--connections` connections (the group commit's flushes in flight), each
 * storing batches of 100 and then 1,000 rows back to back for `--duration` seconds; the sides
 * alternate which goes first in each round. Printed: rows/s, the ratio of each COPY side to the
 * INSERT measured next to it (median of the rounds and range), and the CPU each side cost per
 * row (this process, the client; PostgreSQL, every process of the publisher's server, so the
 * replication sender too, which streams each side's rows as each transaction commits).
 *
 *   npm run bench:copy -- [--duration 5] [--rounds 3] [--connections 2]
 *
 * A benchmark, not a test: it fails only if a statement fails.
 */

import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { InsertConnections } from '../publisher-api/db.js';
import { GROUP_COMMIT_IN_FLIGHT } from '../publisher-api/group-commit.js';
import { insertMany, type StoredRow } from '../publisher-api/ingest.js';
import { benchCollector, runBench, table } from './lib.js';
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
import { alternatingOptions, grouped, machine, readOptions } from './options.js';

const opts = readOptions(
  'bench:copy',
  "POST /data/batch's multi-row INSERT against COPY FROM STDIN (with and without reading the\n" +
    'ids back), from Node, one transaction per batch of 100 and 1,000 rows, on a fresh collector.\n' +
    'Prints Markdown tables of rows/s, ratios and CPU per row.',
  {
    ...alternatingOptions({ duration: 5, rounds: 3 }),
    connections: {
      description: 'connections storing batches at once',
      default: GROUP_COMMIT_IN_FLIGHT,
      min: 1,
      env: 'BENCH_CONNECTIONS',
    },
  },
);
const SIZES = [100, 1000];
const SIDES = ['insert', 'copyIds', 'copy'] as const;
type Side = (typeof SIDES)[number];
const say = (line: string) => process.stderr.write(`${line}\n`);

/**
 * The text of the `data` member of a checked `{"data": …}` object (its only member), cut out as the
 * API would have to for COPY, which cannot compute `-> 'data'`: past the key (which may be spelled
 * with escapes) and its colon, up to the closing brace.
 */
function dataMember(body: string): string {
  let i = body.indexOf('"') + 1;
  while (body[i] !== '"') i += body[i] === '\\' ? 2 : 1;
  return body.slice(body.indexOf(':', i + 1) + 1, body.lastIndexOf('}')).trim();
}

/**
 * COPY's text format gives backslash, newline, carriage return and tab a meaning: each is
 * escaped. (A JSON text may hold a raw newline or tab between its tokens, and a backslash in any
 * string with an escape.) Done on every row, as the API would have to, though this datum has none.
 */
const COPY_ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};
const copyLine = (json: string) => json.replace(/[\\\n\r\t]/g, (ch) => COPY_ESCAPES[ch] as string);

/**
 * The ids this transaction stored, in the order they were drawn: its own rows (xmin), from the
 * primary key's range that starts one millisecond before the transaction did (a uuidv7 id begins
 * with its millisecond). With the publisher and the time, as the INSERT answers them, and whether
 * every id is a uuidv7: with random ids the range would hold only some of the rows, and their
 * order would not be the input's, so anything else is refused.
 */
const READ_IDS = `SELECT string_agg(id::text, ',' ORDER BY id) AS ids, min(publisher) AS publisher,
  max(publisher) AS "lastPublisher", now() AS "createdAt",
  bool_and(uuid_extract_version(id) = 7) AS "allV7"
FROM data
WHERE id >= (lpad(to_hex((extract(epoch FROM now()) * 1000)::bigint - 1), 12, '0')
    || repeat('0', 20))::uuid
  AND xmin = pg_current_xact_id()::xid`;

interface ReadIds {
  ids: string | null;
  publisher: string | null;
  lastPublisher: string | null;
  createdAt: Date | null;
  allV7: boolean | null;
}

/**
 * One batch (`{"data": …}` texts, as POST /data/batch has them) by COPY, in a transaction of its
 * own. With `readIds`, its ids are read back and answered as `insertMany` answers them (an id,
 * the publisher and the time per item); without, only the number of rows COPY reports.
 */
async function copyBatch(c: pg.Client, bodies: readonly string[], readIds: boolean) {
  await c.query('BEGIN');
  try {
    const text = `${bodies.map((b) => copyLine(dataMember(b))).join('\n')}\n`;
    const copy = c.query(copyFrom('COPY data (data) FROM STDIN'));
    await pipeline(Readable.from([text]), copy);
    if (copy.rowCount !== bodies.length) {
      throw new Error(`COPY of ${bodies.length} rows stored ${copy.rowCount}`);
    }
    let items = copy.rowCount;
    if (readIds) {
      const { rows } = await c.query<ReadIds>({ name: 'bench_copy_ids', text: READ_IDS });
      const { ids, publisher, lastPublisher, createdAt, allV7 } = rows[0] as ReadIds;
      const answer = (ids ?? '').split(',');
      if (!allV7 || answer.length !== bodies.length || !publisher || publisher !== lastPublisher) {
        throw new Error(`COPY of ${bodies.length} rows read back ${ids ? answer.length : 0} ids`);
      }
      // The answer POST /data/batch would send, built as insertMany builds it (and, like the
      // INSERT side's, counted and dropped).
      const ms = (createdAt as Date).getTime();
      const stored: StoredRow[] = answer.map((id) => ({ id, publisher, createdAt: new Date(ms) }));
      items = stored.length;
    }
    await c.query('COMMIT');
    return items;
  } catch (e) {
    await c.query('ROLLBACK').catch(() => {});
    throw e;
  }
}

interface Result {
  rowsPerSecond: number;
  /** CPU ms per row: this process (the client), and the publisher's PostgreSQL. */
  clientCpu: number;
  postgresCpu: number;
}

async function main() {
  const bench = await benchCollector('copy', 1, { env: { NODE_ENV: 'production' } });
  const clients: pg.Client[] = [];
  let inserts: InsertConnections | undefined;
  try {
    say(`booting a fresh collector (1 publisher) in ${bench.dataDir}...`);
    const c = await bench.start();
    const p = c.publishers[0];
    if (!p) throw new Error('no publisher');
    const postmaster = p.cluster.pid;
    inserts = new InsertConnections(p.apiDatabaseUrl, {
      applicationName: 'bench-copy',
      size: opts.connections,
    });
    for (let i = 0; i < opts.connections; i++) {
      const client = new pg.Client({ connectionString: p.apiDatabaseUrl });
      // A connection lost mid-run fails its statement; without a listener it would end the process.
      client.on('error', (e) => say(`COPY connection: ${e.message}`));
      await client.connect();
      clients.push(client);
    }
    const ins = inserts;
    let backends: Set<number> | undefined;

    /** Each connection storing batches of `size` rows back to back for `seconds`. */
    const measure = async (side: Side, size: number, seconds: number): Promise<Result> => {
      const bodies = Array<string>(size).fill(`{"data": ${DATUM}}`);
      const batch = async (i: number): Promise<number> => {
        if (side === 'insert') return (await insertMany(ins, bodies, { withData: false })).length;
        return copyBatch(clients[i] as pg.Client, bodies, side === 'copyIds');
      };
      // A backend that ends (settle's) is counted nowhere if reaped between two readings.
      if (backends) await backendsEnded(postmaster, backends);
      const cpu0 = [cpuMs(process.pid), postgresCpuMs(postmaster)];
      const started = performance.now();
      const until = started + seconds * 1000;
      const counts = await Promise.all(
        clients.map(async (_, i) => {
          let rows = 0;
          while (performance.now() < until) rows += await batch(i);
          return rows;
        }),
      );
      const wall = (performance.now() - started) / 1000;
      if (backends) await backendsEnded(postmaster, backends);
      const cpu1 = [cpuMs(process.pid), postgresCpuMs(postmaster)];
      const rows = counts.reduce((a, b) => a + b, 0);
      return {
        rowsPerSecond: rows / wall,
        clientCpu: ((cpu1[0] as number) - (cpu0[0] as number)) / rows,
        postgresCpu: ((cpu1[1] as number) - (cpu0[1] as number)) / rows,
      };
    };

    say('warming up: each side for 1 s at each size...');
    for (const size of SIZES) {
      for (const side of SIDES) await measure(side, size, 1);
    }
    await settle(p.adminUrl);
    // The cluster's processes once every connection of the bench is open.
    backends = postmaster === undefined ? undefined : new Set(childrenOf(postmaster));

    const results = new Map<string, Result[]>();
    const key = (side: Side, size: number) => `${side}/${size}`;
    for (let round = 1; round <= opts.rounds; round++) {
      for (const size of SIZES) {
        // Rotated each round, so that no side always follows the same one.
        const order = SIDES.map((_, i) => SIDES[(i + round - 1) % SIDES.length] as Side);
        const line: string[] = [];
        for (const side of order) {
          const r = await measure(side, size, opts.duration);
          // Before the next side: the subscriber applies this side's rows on the same cores.
          await settle(p.adminUrl);
          results.set(key(side, size), [...(results.get(key(side, size)) ?? []), r]);
          line.push(`${side} ${grouped(r.rowsPerSecond)}`);
        }
        say(`  round ${round}/${opts.rounds}, ${size}-row batches (rows/s): ${line.join(', ')}`);
      }
    }

    const of = (side: Side, size: number) => results.get(key(side, size)) as Result[];
    const m = (rs: Result[], f: (r: Result) => number) => median(rs.map(f));
    const rate = (r: Result) => r.rowsPerSecond;
    const us = (ms: number) => (ms * 1000).toFixed(1);
    const cpu = (rs: Result[]) => {
      const [client, postgres] = [m(rs, (r) => r.clientCpu), m(rs, (r) => r.postgresCpu)];
      return `${us(client)} + ${us(postgres)} = ${us(client + postgres)}`;
    };
    console.log(
      `\nPOST /data/batch's statement against COPY, ${new Date().toISOString()}; ${machine()}; ` +
        `${opts.connections} connection(s), ${opts.duration} s per case, ${opts.rounds} round(s), ` +
        'one transaction per batch, medians over rounds:\n',
    );
    console.log(
      table(
        [
          'rows per batch',
          'multi-row INSERT rows/s',
          'COPY + ids read back rows/s',
          'ratio to INSERT',
          'COPY alone rows/s',
          'ratio to INSERT',
        ],
        SIZES.map((size) => [
          `${size}`,
          grouped(m(of('insert', size), rate)),
          grouped(m(of('copyIds', size), rate)),
          pairedRatio(of('copyIds', size), of('insert', size), rate),
          grouped(m(of('copy', size), rate)),
          pairedRatio(of('copy', size), of('insert', size), rate),
        ]),
      ),
    );
    console.log('\nCPU per row, µs: client (this process) + PostgreSQL:\n');
    console.log(
      table(
        ['rows per batch', 'multi-row INSERT', 'COPY + ids read back', 'COPY alone'],
        SIZES.map((size) => [
          `${size}`,
          cpu(of('insert', size)),
          cpu(of('copyIds', size)),
          cpu(of('copy', size)),
        ]),
      ),
    );
  } finally {
    await inserts?.close();
    await Promise.all(clients.map((client) => client.end().catch(() => {})));
    await bench.cleanup();
  }
}

runBench(main);
