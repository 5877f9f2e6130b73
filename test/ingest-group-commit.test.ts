/**
 * Group commit of single-row POST /data, against publisher 1's real database: concurrent requests
 * share INSERT statements (counted on the app's own InsertConnections, as deployed, and through a
 * Kysely log hook for the service run on a Kysely pool), every 201 is stored and replicated, a
 * poisoned row gets its own 400 while its neighbours get their 201s, and numbers beyond double
 * precision keep every digit. Also the flush's limits (rows, bytes, flushes in flight) and how
 * InsertConnections picks a connection (never more than its size, an idle one first).
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toAppError } from '../common/errors.js';
import { InsertConnections, type PublisherDB } from '../publisher-api/db.js';
import { GROUP_COMMIT_IN_FLIGHT, GroupCommit } from '../publisher-api/group-commit.js';
import { insertMany, type StoredDatum } from '../publisher-api/ingest.js';
import { buildPublisherApp } from '../publisher-api/server.js';
import { collector, http, replicated, uniqueTag, waitFor, withClient } from './helpers.js';

interface Publisher {
  url: string;
  adminUrl: string;
  apiDatabaseUrl: string;
}
const pub = () => collector().publishers[0] as Publisher;

/**
 * Rows in an INSERT_MANY statement's parameter: the texts joined by U+001E, or (for a text that
 * holds one) an array.
 */
const paramRows = (param: unknown) =>
  Array.isArray(param) ? param.length : String(param).split('\u001e').length;

/** INSERT statements into data, and those among them that failed, with their row counts. */
const inserts = { ok: 0, failed: 0, failedRows: [] as number[] };

/** The app's statements, counted like `inserts`: the deployed path. */
class CountingConnections extends InsertConnections {
  readonly counts = {
    ok: 0,
    okRows: 0,
    /** Rows of each statement that succeeded, in the order they finished. */
    okSizes: [] as number[],
    failed: 0,
    failedRows: [] as number[],
    busy: 0,
    mostBusy: 0,
  };
  override async query<R extends object>(name: string, text: string, values: unknown[]) {
    this.counts.busy++;
    this.counts.mostBusy = Math.max(this.counts.mostBusy, this.counts.busy);
    try {
      const rows = await super.query<R>(name, text, values);
      this.counts.ok++;
      this.counts.okRows += paramRows(values[0]);
      this.counts.okSizes.push(paramRows(values[0]));
      return rows;
    } catch (e) {
      this.counts.failed++;
      this.counts.failedRows.push(paramRows(values[0]));
      throw e;
    } finally {
      this.counts.busy--;
    }
  }
}

let db: Kysely<PublisherDB>;
let conns: CountingConnections;
let app: ReturnType<typeof buildPublisherApp>;
let url: string;

beforeAll(async () => {
  db = new Kysely<PublisherDB>({
    dialect: new PostgresDialect({
      pool: new pg.Pool({ connectionString: pub().apiDatabaseUrl, max: 10 }),
    }),
    log(event) {
      // insertDatum's INSERT, or insertMany's (inside WITH stored AS (…)).
      if (!/^\s*(WITH stored AS \(\s*)?INSERT INTO "?data"?\b/i.test(event.query.sql)) return;
      if (event.level === 'query') inserts.ok++;
      else {
        inserts.failed++;
        const [texts] = event.query.parameters as [unknown];
        inserts.failedRows.push(paramRows(texts));
      }
    },
  });
  conns = new CountingConnections(pub().apiDatabaseUrl, {
    applicationName: 'test-group-commit',
    size: GROUP_COMMIT_IN_FLIGHT,
  });
  app = buildPublisherApp(
    db,
    {
      bodyLimit: 1024 * 1024,
      logLevel: 'silent',
      idempotencyTtlSeconds: 86_400,
      idempotencySweepSeconds: 600,
      auth: 'optional',
      keyCacheTtlMs: 5000,
    },
    conns,
  );
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app?.close();
  await conns?.close();
  await db?.destroy();
});

const post = (body: string) =>
  http<{ id: string; data: unknown; error?: { code: string; message: string } }>(`${url}/data`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });

async function storedTexts(marker: string): Promise<Map<string, string>> {
  return withClient(pub().adminUrl, async (c) => {
    const { rows } = await c.query<{ id: string; t: string }>(
      'SELECT id, data::text AS t FROM data WHERE data::text LIKE $1',
      [`%${marker}%`],
    );
    return new Map(rows.map((r) => [r.id, r.t]));
  });
}

const subscriberCount = (marker: string) =>
  withClient(collector().subscriberAdminUrl, async (c) => {
    const { rows } = await c.query<{ n: string }>(
      'SELECT count(*) AS n FROM data WHERE data::text LIKE $1',
      [`%${marker}%`],
    );
    return Number(rows[0]?.n);
  });

describe('group commit of POST /data', () => {
  it('100 concurrent requests are stored with fewer than 100 INSERT statements', async () => {
    const marker = uniqueTag('group');
    const before = conns.counts.ok + conns.counts.failed;
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => post(JSON.stringify({ data: { marker, i } }))),
    );
    const statements = conns.counts.ok + conns.counts.failed - before;
    expect(results.map((r) => r.status)).toEqual(Array(100).fill(201));
    // Each answer is its own row, with its own data.
    results.forEach((r, i) => {
      expect(r.body.data).toEqual({ marker, i });
    });
    expect(new Set(results.map((r) => r.body.id)).size).toBe(100);
    expect((await storedTexts(marker)).size).toBe(100);
    expect(statements).toBeLessThan(100);
    console.log(`100 concurrent POST /data: ${statements} INSERT statements`);
  });

  it('a lone client gets one statement per request, answered at once', async () => {
    const marker = uniqueTag('lone');
    const before = conns.counts.ok;
    const started = performance.now();
    for (let i = 0; i < 20; i++) {
      const res = await post(JSON.stringify({ data: { marker, i } }));
      expect(res.status).toBe(201);
    }
    const perRequest = (performance.now() - started) / 20;
    expect(conns.counts.ok - before).toBe(20);
    // No batching window: far below any timer a batcher might wait on.
    expect(perRequest).toBeLessThan(50);
  });

  it('a lone poisoned row gets its 400 from one failed statement, not retried', async () => {
    const before = conns.counts.failed;
    const res = await post(`{"data": {"marker": "${uniqueTag('lone')}", "nul": "a\\u0000b"}}`);
    expect(res.status).toBe(400);
    expect(conns.counts.failed - before).toBe(1);
  });

  it('a poisoned row amid 50 concurrent good ones: it gets 400, they get 201, stored and replicated', async () => {
    const marker = uniqueTag('poison');
    const bodies = Array.from({ length: 50 }, (_, i) => JSON.stringify({ data: { marker, i } }));
    // jsonb refuses \u0000 (22P05): the statement it is in fails as a whole.
    bodies.splice(25, 0, `{"data": {"marker": "${marker}", "nul": "a\\u0000b"}}`);
    const results = await Promise.all(bodies.map(post));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(50);
    expect(statuses[25]).toBe(400);
    expect(results[25]?.body.error).toMatchObject({
      code: 'BAD_USER_INPUT',
      message: expect.stringMatching(/Invalid value: .*Unicode/),
    });
    const stored = await storedTexts(marker);
    expect(stored.size).toBe(50);
    for (const r of results.filter((x) => x.status === 201))
      expect(stored.has(r.body.id)).toBe(true);
    await waitFor('50 rows on the subscriber', async () =>
      (await subscriberCount(marker)) === 50 ? true : undefined,
    );
  });

  // The service on both places it can run: the API's own connections (as deployed) and a
  // Kysely pool.
  const targets = [
    {
      name: 'InsertConnections',
      make: () => conns,
      failedRows: () => conns.counts.failedRows,
    },
    { name: 'a Kysely pool', make: () => db, failedRows: () => inserts.failedRows },
  ];

  it.each(targets)(
    'a bad row in a batch of 51 is retried alone; its 50 neighbours are stored (service level, $name)',
    async ({ make, failedRows }) => {
      const marker = uniqueTag('direct');
      const group = new GroupCommit(make());
      const failedBefore = failedRows().length;
      // Queued in one turn of the event loop: the first flush holds all 51.
      const settled = await Promise.allSettled(
        Array.from({ length: 51 }, (_, i) =>
          group.insert(
            i === 7
              ? `{"data": {"marker": "${marker}", "s": "\\ud800"}}`
              : JSON.stringify({ data: { marker, i } }),
          ),
        ),
      );
      expect(group.stats.flushes).toBe(1);
      expect(group.stats.rows).toBe(51);
      // The 51-row statement failed, then the bad row alone.
      expect(
        failedRows()
          .slice(failedBefore)
          .sort((a, b) => b - a),
      ).toEqual([51, 1]);
      expect(settled[7]?.status).toBe('rejected');
      const good = settled.filter((s) => s.status === 'fulfilled');
      expect(good).toHaveLength(50);
      settled.forEach((s, i) => {
        if (s.status === 'fulfilled') {
          expect(JSON.parse((s.value as StoredDatum).dataJson as string)).toEqual({ marker, i });
        }
      });
      expect((await storedTexts(marker)).size).toBe(50);
    },
  );

  it.each(targets)(
    'answers in the order of the statement: each row gets its own datum in a batch ($name)',
    async ({ make }) => {
      const marker = uniqueTag('order');
      const group = new GroupCommit(make());
      const stored = await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          group.insert(JSON.stringify({ data: { marker, i } })),
        ),
      );
      expect(group.stats.flushes).toBe(1);
      stored.forEach((d, i) => {
        expect(JSON.parse(d.dataJson as string)).toEqual({ marker, i });
      });
    },
  );

  it('runs a second flush while the first is still in flight (GROUP_COMMIT_IN_FLIGHT)', async () => {
    const marker = uniqueTag('flight');
    const two = new CountingConnections(pub().apiDatabaseUrl, {
      applicationName: 'test-in-flight',
      size: GROUP_COMMIT_IN_FLIGHT,
    });
    try {
      const group = new GroupCommit(two);
      const body = (i: number) => JSON.stringify({ data: { marker, i } });
      const first = group.insert(body(0));
      // The first flush has started (and is opening its connection: milliseconds).
      await new Promise((r) => setImmediate(r));
      const rest = Array.from({ length: 10 }, (_, i) => group.insert(body(i + 1)));
      const stored = await Promise.all([first, ...rest]);
      expect(group.stats).toEqual({ flushes: 2, rows: 11 });
      expect(two.counts.mostBusy).toBe(2);
      expect(stored.map((d) => (JSON.parse(d.dataJson as string) as { i: number }).i)).toEqual(
        Array.from({ length: 11 }, (_, i) => i),
      );
    } finally {
      await two.close();
    }
  });

  it('caps a batch at its row limit, and fills it to the limit', async () => {
    const marker = uniqueTag('cap');
    const group = new GroupCommit(db, { maxRows: 10, maxBytes: 1024 * 1024 });
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => group.insert(JSON.stringify({ data: { marker, i } }))),
    );
    // 10 + 10 + 10: a flush one row short of the limit would take four.
    expect(group.stats).toEqual({ flushes: 3, rows: 30 });
  });

  it('caps a batch at its byte limit; a row larger than the limit is stored in a flush of its own', async () => {
    const marker = uniqueTag('bytes');
    const counting = new CountingConnections(pub().apiDatabaseUrl, {
      applicationName: 'test-max-bytes',
      size: GROUP_COMMIT_IN_FLIGHT,
    });
    try {
      // Texts of one length: the limit holds two of them, not three.
      const body = (i: number) =>
        JSON.stringify({ data: { marker, i: String(i).padStart(3, '0') } });
      const length = body(0).length;
      const group = new GroupCommit(counting, { maxRows: 500, maxBytes: 2 * length + 1 });
      const large = JSON.stringify({ data: { marker, large: 'x'.repeat(3 * length) } });
      const stored = await Promise.all([
        group.insert(large),
        ...Array.from({ length: 10 }, (_, i) => group.insert(body(i))),
      ]);
      expect(stored).toHaveLength(11);
      expect(group.stats).toEqual({ flushes: 6, rows: 11 });
      expect([...counting.counts.okSizes].sort((a, b) => a - b)).toEqual([1, 2, 2, 2, 2, 2]);
      expect((await storedTexts(marker)).size).toBe(11);
    } finally {
      await counting.close();
    }
  });

  it('never runs more than GROUP_COMMIT_IN_FLIGHT flushes at once', async () => {
    const marker = uniqueTag('most');
    const counting = new CountingConnections(pub().apiDatabaseUrl, {
      applicationName: 'test-most-in-flight',
      size: GROUP_COMMIT_IN_FLIGHT + 1,
    });
    try {
      // One row per flush, five queued at once: enough to start a third flush if it could.
      const group = new GroupCommit(counting, { maxRows: 1 });
      await Promise.all(
        Array.from({ length: 5 }, (_, i) => group.insert(JSON.stringify({ data: { marker, i } }))),
      );
      expect(group.stats).toEqual({ flushes: 5, rows: 5 });
      expect(counting.counts.mostBusy).toBe(GROUP_COMMIT_IN_FLIGHT);
    } finally {
      await counting.close();
    }
  });

  it('numbers beyond double precision are stored and echoed exactly under concurrency', async () => {
    const marker = uniqueTag('digits');
    const numbers = [
      '12345678901234567890123',
      '0.10000000000000000000000001',
      '-98765432109876543210.5',
    ];
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        post(`{"data": {"marker": "${marker}", "i": ${i}, "n": ${numbers[i % 3]}}}`),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(30).fill(201));
    const stored = await storedTexts(marker);
    results.forEach((r, i) => {
      expect(r.text).toContain(`"n": ${numbers[i % 3]}`);
      expect(stored.get(r.body.id)).toContain(`"n": ${numbers[i % 3]}`);
    });
    await replicated(results[0]?.body.id as string);
  });
});

describe('batches (POST /data/batch) in the group commit', () => {
  const postBatch = (body: string) =>
    http<{
      items: Array<{ id: string; publisher: string; createdAt: string }>;
      error?: { code: string; message: string };
    }>(`${url}/data/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
  const batchBody = (marker: string, b: number, n: number) =>
    JSON.stringify(Array.from({ length: n }, (_, i) => ({ data: { marker, b, i } })));

  it('8 concurrent batches and 8 single rows share statements; each answer is its own rows, in order', async () => {
    const marker = uniqueTag('batches');
    const before = conns.counts.ok + conns.counts.failed;
    const rowsBefore = conns.counts.okRows;
    const [batches, singles] = await Promise.all([
      Promise.all(Array.from({ length: 8 }, (_, b) => postBatch(batchBody(marker, b, 40)))),
      Promise.all(
        Array.from({ length: 8 }, (_, i) => post(JSON.stringify({ data: { marker, i } }))),
      ),
    ]);
    const statements = conns.counts.ok + conns.counts.failed - before;
    expect(batches.map((r) => r.status)).toEqual(Array(8).fill(201));
    expect(singles.map((r) => r.status)).toEqual(Array(8).fill(201));
    singles.forEach((r, i) => {
      expect(r.body.data).toEqual({ marker, i });
    });
    const stored = await storedTexts(marker);
    expect(stored.size).toBe(8 * 40 + 8);
    batches.forEach((r, b) => {
      expect(r.body.items).toHaveLength(40);
      r.body.items.forEach((item, i) => {
        expect(JSON.parse(stored.get(item.id) as string)).toEqual({ marker, b, i });
      });
    });
    // All of them through the group commit's connections, in fewer statements than requests.
    expect(conns.counts.okRows - rowsBefore).toBe(8 * 40 + 8);
    expect(statements).toBeLessThan(16);
    console.log(`8 batches of 40 and 8 single rows, concurrently: ${statements} INSERT statements`);
  });

  it('a batch with a bad item amid concurrent batches and rows: only it fails, naming the item; nothing of it is stored', async () => {
    const marker = uniqueTag('badbatch');
    const bad = JSON.parse(batchBody(marker, 3, 20)) as unknown[];
    const badBody = JSON.stringify(bad).replace(
      `{"data":{"marker":"${marker}","b":3,"i":11}}`,
      `{"data":{"marker":"${marker}","b":3,"i":11,"nul":"a\\u0000b"}}`,
    );
    expect(badBody).toContain('\\u0000');
    const [batches, singles] = await Promise.all([
      Promise.all(
        Array.from({ length: 6 }, (_, b) =>
          postBatch(b === 3 ? badBody : batchBody(marker, b, 20)),
        ),
      ),
      Promise.all(
        Array.from({ length: 10 }, (_, i) => post(JSON.stringify({ data: { marker, i } }))),
      ),
    ]);
    expect(batches.map((r) => r.status)).toEqual([201, 201, 201, 400, 201, 201]);
    expect(batches[3]?.body.error?.message).toMatch(
      /^Item 11: Invalid value: .*Nothing was stored/,
    );
    expect(singles.map((r) => r.status)).toEqual(Array(10).fill(201));
    const stored = [...(await storedTexts(marker)).values()].map(
      (t) => JSON.parse(t) as { b?: number },
    );
    expect(stored).toHaveLength(5 * 20 + 10);
    expect(stored.filter((d) => d.b === 3)).toEqual([]);
  });

  it('a batch larger than the row limit is one statement of its own, never split', async () => {
    const marker = uniqueTag('bigbatch');
    const conns2 = new CountingConnections(pub().apiDatabaseUrl, {
      applicationName: 'test-big-batch',
      size: GROUP_COMMIT_IN_FLIGHT,
    });
    try {
      const group = new GroupCommit(conns2, { maxRows: 10, maxBytes: 1024 * 1024 });
      const texts = (b: number, n: number) =>
        Array.from({ length: n }, (_, i) => JSON.stringify({ data: { marker, b, i } }));
      const [big, small, single] = await Promise.all([
        group.insertBatch(texts(0, 25)),
        group.insertBatch(texts(1, 4)),
        group.insert(JSON.stringify({ data: { marker, single: true } })),
      ]);
      expect(big).toHaveLength(25);
      expect(small).toHaveLength(4);
      expect(JSON.parse(single.dataJson as string)).toEqual({ marker, single: true });
      // The 25 alone (over the limit of 10), then the 4 and the single row together.
      expect(group.stats).toEqual({ flushes: 2, rows: 30 });
      expect(conns2.counts.ok).toBe(2);
      expect([...conns2.counts.okSizes].sort((a, b) => a - b)).toEqual([5, 25]);
    } finally {
      await conns2.close();
    }
  });
});

describe("InsertConnections: the group commit's own connections", () => {
  const row = (marker: string) => [JSON.stringify({ data: { marker } })];

  it('replaces a connection the server closed: the next row is stored', async () => {
    const name = uniqueTag('conn');
    const own = new InsertConnections(pub().apiDatabaseUrl, { applicationName: name, size: 1 });
    try {
      expect(await insertMany(own, row(uniqueTag('before')))).toHaveLength(1);
      const killed = await withClient(pub().adminUrl, async (c) => {
        const { rows } = await c.query<{ ok: boolean }>(
          'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1',
          [name],
        );
        return rows;
      });
      expect(killed).toEqual([{ ok: true }]);
      // The idle connection hears of it at once (an error, then its end).
      await new Promise((r) => setTimeout(r, 300));
      const marker = uniqueTag('after');
      expect(await insertMany(own, row(marker))).toHaveLength(1);
      expect((await storedTexts(marker)).size).toBe(1);
    } finally {
      await own.close();
    }
  });

  it('opens no more connections than its size: two statements at once share its one', async () => {
    const own = new InsertConnections(pub().apiDatabaseUrl, {
      applicationName: uniqueTag('size'),
      size: 1,
    });
    try {
      const pid = () => own.query<{ pid: number }>('pid', 'SELECT pg_backend_pid() AS pid', []);
      const [a, b] = await Promise.all([pid(), pid()]);
      expect(a[0]?.pid).toBe(b[0]?.pid);
    } finally {
      await own.close();
    }
  });

  it('runs a statement on an idle connection rather than behind a busy one', async () => {
    const own = new InsertConnections(pub().apiDatabaseUrl, {
      applicationName: uniqueTag('idle'),
      size: 2,
    });
    // The busy connection waits for a lock this test holds until the end: busy however slow the
    // machine.
    const lock = new pg.Client({ connectionString: pub().adminUrl });
    await lock.connect();
    const key = 7_000_000 + Math.floor(Math.random() * 1_000_000);
    try {
      await lock.query('SELECT pg_advisory_lock($1)', [key]);
      const pid = () => own.query<{ pid: number }>('pid', 'SELECT pg_backend_pid() AS pid', []);
      const busy = own.query<{ pid: number }>(
        'pid_locked',
        'SELECT pg_backend_pid() AS pid, pg_advisory_xact_lock($1)',
        [key],
      );
      let first: Array<{ pid: number }>;
      let next: Promise<Array<{ pid: number }>>;
      try {
        // Opens the second connection (the first is busy), which is then idle.
        first = await pid();
        // The connection is chosen at once: the idle one, not the one waiting for the lock.
        next = pid();
      } finally {
        await lock.query('SELECT pg_advisory_unlock($1)', [key]);
      }
      const [second, locked] = await Promise.all([next, busy]);
      expect(second[0]?.pid).toBe(first[0]?.pid);
      expect(locked[0]?.pid).not.toBe(second[0]?.pid);
    } finally {
      await lock.end();
      await own.close();
    }
  });

  it('an unreachable database is SERVICE_UNAVAILABLE (503), on every try', async () => {
    const own = new InsertConnections('postgres://nobody:nothing@127.0.0.1:1/none', {
      applicationName: 'test-unreachable',
      size: 1,
    });
    try {
      for (let i = 0; i < 2; i++) {
        const e = await insertMany(own, row('x')).catch((err: unknown) => err);
        expect(toAppError(e)?.code).toBe('SERVICE_UNAVAILABLE');
      }
    } finally {
      await own.close();
    }
  });

  it("runs under the service's statement timeout (504 when it expires)", async () => {
    const own = new InsertConnections(pub().apiDatabaseUrl, {
      applicationName: 'test-timeout',
      statementTimeoutMs: 100,
      size: 1,
    });
    try {
      const e = await own.query('sleep', 'SELECT pg_sleep($1)', [1]).catch((err: unknown) => err);
      expect(toAppError(e)?.code).toBe('GATEWAY_TIMEOUT');
    } finally {
      await own.close();
    }
  });
});
