/**
 * Rows received per publisher, as the gateway's fleet monitor counts them (collector/row-counts.ts):
 * the whole table once, then only the rows received since, never missing a row whose transaction
 * began before a count and committed after it. On a database of its own in the test subscriber's
 * cluster, with the subscriber's migrations, so that rows can be written there by hand.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, RowCounts } from '../collector/row-counts.js';
import { createKysely } from '../common/db.js';
import { migrate } from '../common/migrate.js';
import { collector, withClient } from './helpers.js';

const name = `rowcounts_${randomUUID().replaceAll('-', '')}`;
const url = () => collector().subscriberAdminUrl.replace(/\/[^/]*$/, `/${name}`);
let db: Kysely<unknown>;

const FLEET = [
  { name: 'a', oid: 1 },
  { name: 'b', oid: 2 },
];

/** Rows for `publisher`, received now (or at `receivedAt`). */
function insert(c: pg.Client, publisher: string, n = 1, receivedAt?: string) {
  return c.query(
    `INSERT INTO data (id, publisher, data, created_at, received_at)
     SELECT gen_random_uuid(), $1, '{}', now(), coalesce($2::timestamptz, now())
       FROM generate_series(1, $3)`,
    [publisher, receivedAt ?? null, n],
  );
}

/** The subscriber's clock, as RowCounts sees it, set back by a test. */
class SteppedBack extends RowCounts {
  back(ms: number) {
    this.skewMs = ms;
  }
}

/**
 * A row for publisher "late" in a transaction of its own, begun (so stamped) before `during` runs
 * and committed after it. `setup` runs first in that session.
 */
async function lateRow(during: () => Promise<void>, setup?: string) {
  await withClient(url(), async (late) => {
    if (setup) await late.query(setup);
    await late.query('BEGIN');
    await insert(late, 'late');
    await new Promise((r) => setTimeout(r, 100));
    await during();
    await late.query('COMMIT');
  });
}

/** An empty data table, then `n` rows of publisher "a" received now. */
async function reset(c: pg.Client, n = 0) {
  await c.query('TRUNCATE data CASCADE');
  if (n > 0) await insert(c, 'a', n);
}

const rows = (counts: Map<string, number> | undefined) =>
  counts && Object.fromEntries([...counts].sort());

beforeAll(async () => {
  await withClient(collector().subscriberAdminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  db = createKysely(url(), { max: 4, applicationName: 'test-row-counts' });
  await migrate(db, 'subscriber');
});

afterAll(async () => {
  await db?.destroy();
  await withClient(collector().subscriberAdminUrl, (c) =>
    c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  );
});

describe('rows received per publisher, counted incrementally', () => {
  it('counts the whole table once, then only the rows received since', async () => {
    await withClient(url(), async (c) => {
      await reset(c, 3);
      await insert(c, 'b', 2);
      const counts = new RowCounts({ marginMs: 0 });
      expect(rows(await counts.count(db, FLEET))).toEqual({ a: 3, b: 2 });
      await insert(c, 'a');
      await insert(c, 'c');
      expect(rows(await counts.count(db, FLEET))).toEqual({ a: 4, b: 2, c: 1 });
      expect(counts.fullCounts).toBe(1);
      // A row stamped before the settled time (which only a hand-written one can be) is not read
      // again: proof that the settled part is not counted again. The whole table has it.
      await insert(c, 'a', 1, '2000-01-01T00:00:00Z');
      expect(rows(await counts.count(db, FLEET))).toEqual({ a: 4, b: 2, c: 1 });
      expect(rows(await countRows(db))).toEqual({ a: 5, b: 2, c: 1 });
      // A publisher removed with its rows and added again: a subscription with a new oid. The
      // whole table is counted again.
      await c.query(`DELETE FROM data WHERE publisher = 'b'`);
      await insert(c, 'b');
      const readded = [FLEET[0] as (typeof FLEET)[0], { name: 'b', oid: 3 }];
      expect(rows(await counts.count(db, readded))).toEqual({ a: 5, b: 1, c: 1 });
      expect(counts.fullCounts).toBe(2);
    });
  });

  it('counts a row whose transaction began before a count and committed after it', async () => {
    await withClient(url(), async (c) => {
      await reset(c, 2);
      const counts = new RowCounts({ marginMs: 0 });
      expect(rows(await counts.count(db, FLEET))).toEqual({ a: 2 });
      // received_at is the transaction's start: before the counts below.
      await lateRow(async () => {
        await insert(c, 'a');
        expect(rows(await counts.count(db, FLEET))).toEqual({ a: 3 });
        await new Promise((r) => setTimeout(r, 100));
        expect(rows(await counts.count(db, FLEET))).toEqual({ a: 3 });
      });
      expect(rows(await counts.count(db, FLEET))).toEqual({ a: 3, late: 1 });
      expect(rows(await countRows(db))).toEqual({ a: 3, late: 1 });
      expect(counts.fullCounts).toBe(1);
    });
  });

  it('moves on from nothing while a backend hides its transactions (track_activities off)', async () => {
    await withClient(url(), async (c) => {
      await reset(c, 2);
      const counts = new RowCounts({ marginMs: 0 });
      expect(rows(await counts.count(db, FLEET))).toEqual({ a: 2 });
      // Its transaction start is not shown (pg_stat_activity.state = 'disabled').
      await lateRow(async () => {
        expect(rows(await counts.count(db, FLEET))).toEqual({ a: 2 });
      }, 'SET track_activities = off');
      expect(rows(await counts.count(db, FLEET))).toEqual({ a: 2, late: 1 });
    });
  });

  it('counts the whole table again when the settled time goes back, serving the counts meanwhile', async () => {
    await withClient(url(), async (c) => {
      await c.query('TRUNCATE data CASCADE');
      // Received two hours ago and ten minutes ago: the counts below take several slices.
      await insert(c, 'a', 5, new Date(Date.now() - 7_200_000).toISOString());
      await insert(c, 'a', 1, new Date(Date.now() - 600_000).toISOString());
      const counts = new SteppedBack({ marginMs: 0, sliceRows: 2, budgetMs: 0 });
      let first: Record<string, number> | undefined;
      for (let i = 0; i < 10 && !first; i++) first = rows(await counts.count(db, FLEET));
      expect(first).toEqual({ a: 6 });
      expect(counts.fullCounts).toBe(1);
      // The clock goes back an hour, and a row is stamped before the settled time.
      counts.back(3_600_000);
      await insert(c, 'a', 1, new Date(Date.now() - 1_800_000).toISOString());
      const answers: Array<Record<string, number> | undefined> = [];
      for (let i = 0; i < 4; i++) answers.push(rows(await counts.count(db, FLEET)));
      // Served as they were until the whole table has been counted again (5 rows before the new
      // time: 3 slices), then exact; never a row counted twice.
      expect(answers).toEqual([{ a: 6 }, { a: 6 }, { a: 7 }, { a: 7 }]);
      expect(counts.fullCounts).toBe(2);
      await insert(c, 'b', 2);
      expect(rows(await counts.count(db, FLEET))).toEqual({ a: 7, b: 2 });
    });
  });

  it('starts a whole-table count again when the settled time goes back during it', async () => {
    await withClient(url(), async (c) => {
      await reset(c, 5);
      const counts = new SteppedBack({ marginMs: 0, sliceRows: 2, budgetMs: 0 });
      expect(await counts.count(db, FLEET)).toBeUndefined();
      counts.back(3_600_000);
      await insert(c, 'a', 1, new Date(Date.now() - 1_800_000).toISOString());
      const answers: Array<Record<string, number> | undefined> = [];
      for (let i = 0; i < 6; i++) answers.push(rows(await counts.count(db, FLEET)));
      expect(answers.at(-1)).toEqual({ a: 6 });
      // Never more than there are.
      for (const a of answers) if (a) expect(a).toEqual({ a: 6 });
      expect(rows(await countRows(db))).toEqual({ a: 6 });
    });
  });

  it('counts a large table in slices over several calls, unknown until done, exact after', async () => {
    await withClient(url(), async (c) => {
      await c.query('TRUNCATE data CASCADE');
      // Rows of one transaction share their received_at: slices must split inside such a run.
      await insert(c, 'a', 5);
      await insert(c, 'b', 4);
      const counts = new RowCounts({ marginMs: 0, sliceRows: 2, budgetMs: 0 });
      const answers: Array<Record<string, number> | undefined> = [];
      for (let i = 0; i < 6; i++) {
        answers.push(rows(await counts.count(db, FLEET)));
        // Rows keep arriving meanwhile.
        await insert(c, 'c');
      }
      // 9 rows settled before the first call, 2 a slice, one slice a call: known at the fifth.
      expect(answers.slice(0, 4)).toEqual([undefined, undefined, undefined, undefined]);
      expect(answers[4]).toEqual({ a: 5, b: 4, c: 4 });
      expect(answers[5]).toEqual({ a: 5, b: 4, c: 5 });
      expect(counts.fullCounts).toBe(1);
      expect(rows(await counts.count(db, FLEET))).toEqual(rows(await countRows(db)));
    });
  });

  it('counts the whole table again every recountMs, serving the counts so far meanwhile', async () => {
    await withClient(url(), async (c) => {
      await reset(c, 3);
      const counts = new RowCounts({ marginMs: 0, sliceRows: 2, budgetMs: 0, recountMs: 0 });
      for (let i = 0; i < 2; i++) await counts.count(db, FLEET);
      expect(rows(await counts.count(db, FLEET))).toEqual({ a: 3 });
      expect(counts.fullCounts).toBe(1);
      // A row the incremental count cannot see (stamped before the settled time, as only a
      // hand-written one can be): a later whole-table count finds it (the one in progress is
      // past its place in the index; the one after).
      await insert(c, 'a', 1, '2000-01-01T00:00:00Z');
      const seen: Array<Record<string, number> | undefined> = [];
      for (let i = 0; i < 4; i++) seen.push(rows(await counts.count(db, FLEET)));
      expect(seen[0]).toEqual({ a: 3 });
      expect(seen.at(-1)).toEqual({ a: 4 });
      expect(counts.fullCounts).toBeGreaterThanOrEqual(2);
    });
  });

  it('never moves the settled time back within the margin (no row counted twice)', async () => {
    await withClient(url(), async (c) => {
      await c.query('TRUNCATE data CASCADE');
      // Settled at the first count (75 s before it, the margin being 60 s).
      await insert(c, 'a', 1, new Date(Date.now() - 75_000).toISOString());
      const counts = new SteppedBack({ marginMs: 60_000 });
      expect(rows(await counts.count(db, FLEET))).toEqual({ a: 1 });
      // Back by less than the margin: the time itself is after the settled time, the time less
      // the margin before it.
      counts.back(30_000);
      for (let i = 0; i < 2; i++) expect(rows(await counts.count(db, FLEET))).toEqual({ a: 1 });
    });
  });

  it('a whole-table count taking over does not move the settled time back within the margin', async () => {
    await withClient(url(), async (c) => {
      await c.query('TRUNCATE data CASCADE');
      await insert(c, 'a', 3, new Date(Date.now() - 75_000).toISOString());
      const counts = new SteppedBack({ marginMs: 60_000, sliceRows: 2, budgetMs: 0 });
      expect(await counts.count(db, FLEET)).toBeUndefined();
      counts.back(30_000);
      for (let i = 0; i < 3; i++) expect(rows(await counts.count(db, FLEET))).toEqual({ a: 3 });
    });
  });

  it('reads no slice twice when the query after the last one fails', async () => {
    await withClient(url(), async (c) => {
      await reset(c, 3);
    });
    // The database refuses the next count of the rows since (a statement timeout, say).
    let failNext = false;
    const failing = db.withPlugin({
      transformQuery(args) {
        const node = args.node as { kind: string; sqlFragments?: readonly string[] };
        if (failNext && node.sqlFragments?.join('').includes('FILTER (WHERE received_at <')) {
          failNext = false;
          throw new Error('canceling statement due to statement timeout');
        }
        return args.node;
      },
      async transformResult(args) {
        return args.result;
      },
    });
    const counts = new RowCounts({ marginMs: 0, sliceRows: 2, budgetMs: 0 });
    expect(await counts.count(failing, FLEET)).toBeUndefined();
    failNext = true;
    await expect(counts.count(failing, FLEET)).rejects.toThrow(/statement timeout/);
    expect(counts.lastError).toMatch(/statement timeout/);
    expect(rows(await counts.count(failing, FLEET))).toEqual({ a: 3 });
    expect(counts.lastError).toBeUndefined();
  });

  it('counts rows stamped within the margin again, until they settle', async () => {
    await withClient(url(), async (c) => {
      await c.query('TRUNCATE data CASCADE');
      const counts = new RowCounts({ marginMs: 3_600_000 });
      expect(rows(await counts.count(db, FLEET))).toEqual({});
      // Stamped half an hour ago (as a transaction that started then and did not show yet):
      // within the margin, so not settled, and counted when it appears.
      await insert(c, 'a', 1, new Date(Date.now() - 1_800_000).toISOString());
      expect(rows(await counts.count(db, FLEET))).toEqual({ a: 1 });
      expect(counts.fullCounts).toBe(1);
    });
  });

  it('runs one count at a time: callers meanwhile share it', async () => {
    await withClient(url(), (c) => c.query('TRUNCATE data CASCADE').then(() => insert(c, 'a', 2)));
    const counts = new RowCounts();
    const [first, second] = await Promise.all([counts.count(db, FLEET), counts.count(db, FLEET)]);
    expect(second).toBe(first);
    expect(rows(first)).toEqual({ a: 2 });
    expect(counts.fullCounts).toBe(1);
  });

  it('works as collector_monitor, the role of the fleet monitor', async () => {
    await withClient(url(), (c) => c.query('TRUNCATE data CASCADE').then(() => insert(c, 'a', 2)));
    const monitor = createKysely<unknown>(url(), {
      max: 1,
      applicationName: 'test-row-counts-monitor',
      options: '-c role=collector_monitor',
    });
    try {
      const counts = new RowCounts({ marginMs: 0 });
      expect(rows(await counts.count(monitor, FLEET))).toEqual({ a: 2 });
      await withClient(url(), (c) => insert(c, 'b'));
      expect(rows(await counts.count(monitor, FLEET))).toEqual({ a: 2, b: 1 });
      // Another role's open transaction (the apply workers run as the subscriptions' owner):
      // pg_stat_activity shows its start to collector_monitor only through the function, which
      // runs as its owner.
      await lateRow(async () => {
        expect(rows(await counts.count(monitor, FLEET))).toEqual({ a: 2, b: 1 });
      });
      expect(rows(await counts.count(monitor, FLEET))).toEqual({ a: 2, b: 1, late: 1 });
      expect(counts.fullCounts).toBe(1);
    } finally {
      await monitor.destroy();
    }
  });
});
