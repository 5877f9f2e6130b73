/**
 * `collector publishers add | remove | resync`, and the order of a schema change, as real CLI
 * processes against a collector of this file's own (2 publishers), plus a third publisher
 * cluster started here (pub3, with a tiny max_slot_wal_keep_size so its slot can be lost for
 * real) and one without wal_level=logical. One collector for every case: they run in order.
 */
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../collector/cluster.js';
import { type LocalCollector, type LocalSecrets, startLocalCollector } from '../collector/local.js';
import { createKysely } from '../common/db.js';
import { migrate } from '../common/migrate.js';
import { freeRange } from '../common/ports.js';
import { CLI, runCli } from './cli-process.js';
import { waitFor, withClient } from './helpers.js';
import { scratchDir } from './sweep.js';

let c: LocalCollector;
let dir: string;
let secrets: LocalSecrets;
let pub3: Cluster;
let plain: Cluster;
const show = (text: string) => {
  if (process.env.SHOW_CLI) console.log(text);
};

interface Status {
  name: string;
  state: string;
  reason: string | null;
  rowsReceived: number;
}

function env(): Record<string, string> {
  return {
    COLLECTOR_SUBSCRIBER_ADMIN_URL: c.subscriberAdminUrl,
    COLLECTOR_PUBLISHER_ADMIN_URLS: [
      ...c.publishers.map((p) => `${p.name}=${p.adminUrl}`),
      `pub3=${pub3.adminUrl}`,
    ].join(','),
    COLLECTOR_PUBLISHER_API_DB_PASSWORD: secrets.roles.publisherApi,
    COLLECTOR_REPLICATION_PASSWORD: secrets.roles.replicator,
    COLLECTOR_PUBLISHER_ADMIN_URL: '',
  };
}
const cli = (args: string[]) => runCli(args, { env: env() });

async function status(): Promise<Status[]> {
  const res = await cli(['publishers', 'status', '--json']);
  if (res.code !== 0) throw new Error(`status failed (${res.code}): ${res.stderr}`);
  return JSON.parse(res.stdout) as Status[];
}

async function waitState(name: string, state: string, timeoutMs = 30_000): Promise<Status> {
  let last: Status | undefined;
  try {
    return await waitFor(
      `${name} to be ${state}`,
      async () => {
        last = (await status()).find((s) => s.name === name);
        return last?.state === state ? last : undefined;
      },
      timeoutMs,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}; last status: ${JSON.stringify(last)}`);
  }
}

const sub = <T>(fn: (db: import('pg').Client) => Promise<T>) =>
  withClient(c.subscriberAdminUrl, fn);

async function insert(url: string, n = 1, data = '{"from":"publishers-ops"}'): Promise<string[]> {
  return withClient(url, async (db) => {
    const { rows } = await db.query<{ id: string }>(
      'INSERT INTO data (data) SELECT $2::jsonb FROM generate_series(1, $1) RETURNING id',
      [n, data],
    );
    return rows.map((r) => r.id);
  });
}

/** How many times each id is on the subscriber (0 when missing). */
async function copies(ids: string[]): Promise<number[]> {
  return sub(async (db) => {
    const { rows } = await db.query<{ id: string; n: number }>(
      'SELECT id, count(*)::int AS n FROM data WHERE id = ANY($1::uuid[]) GROUP BY id',
      [ids],
    );
    const n = new Map(rows.map((r) => [r.id, r.n]));
    return ids.map((id) => n.get(id) ?? 0);
  });
}

const allArrive = (ids: string[], timeoutMs = 30_000) =>
  waitFor(
    `${ids.length} row(s) on the subscriber`,
    async () => ((await copies(ids)).every((n) => n === 1) ? true : undefined),
    timeoutMs,
  );

/** The apply worker of each subscription: the same pid before and after means it never stopped. */
async function applyPids(): Promise<Record<string, number | null>> {
  return sub(async (db) => {
    const { rows } = await db.query<{ subname: string; pid: number | null }>(
      "SELECT subname, pid FROM pg_stat_subscription WHERE worker_type = 'apply' ORDER BY subname",
    );
    return Object.fromEntries(rows.map((r) => [r.subname, r.pid]));
  });
}

async function slotOnPub3(): Promise<{ wal_status: string } | undefined> {
  return withClient(pub3.adminUrl, async (db) => {
    const { rows } = await db.query<{ wal_status: string }>(
      "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'collector_pub3'",
    );
    return rows[0];
  });
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" (npm test does)`);
  dir = await scratchDir('publishers-ops');
  const base = await freeRange(5);
  c = await startLocalCollector({
    dataDir: dir,
    publishers: 2,
    pgPorts: { subscriber: base, publishers: [base + 1, base + 2] },
    httpPorts: { gateway: 0, publishers: [0, 0] },
    adminPassword: 'publishers-ops-admin',
    bodyLimit: 1024 * 1024,
    logLevel: 'silent',
  });
  secrets = JSON.parse(await readFile(path.join(dir, 'secrets.json'), 'utf8')) as LocalSecrets;
  // A publisher on a machine of its own, as far as the fleet knows: not started by the collector.
  // Its slot may keep almost no WAL, so that a subscriber away for a while loses it.
  pub3 = new Cluster({
    name: 'pub3',
    dataDir: path.join(dir, 'pub3'),
    port: base + 3,
    superuserPassword: 'pub3-superuser-password',
    database: 'collector',
    settings: ['max_slot_wal_keep_size=1MB'],
  });
  // A PostgreSQL that was never configured for logical replication.
  plain = new Cluster({
    name: 'plain',
    dataDir: path.join(dir, 'plain'),
    port: base + 4,
    superuserPassword: 'plain-superuser-password',
    database: 'collector',
    settings: ['wal_level=replica'],
  });
  await Promise.all([pub3.initialise(), plain.initialise()]);
  await Promise.all([pub3.start(), plain.start()]);
}, 120_000);

afterAll(async () => {
  try {
    await Promise.allSettled([pub3?.stop(), plain?.stop()]);
    await c?.stop();
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
});

/** Whether the replayed-row skipping trigger is on (it must be off once no copy runs). */
async function skipping(): Promise<string> {
  const { rows } = await sub((db) =>
    db.query<{ tgenabled: string }>(
      "SELECT tgenabled FROM pg_trigger WHERE tgname = 'data_skip_replayed_row'",
    ),
  );
  return rows[0]?.tgenabled ?? 'missing';
}

describe.sequential('collector publishers add | remove | resync', { timeout: 120_000 }, () => {
  let pub3Rows: string[] = [];
  let annotated: string;

  it('add: a publisher with rows already on it joins a running fleet; the others never stop', async () => {
    // pub3 has been a standalone publisher for a while: schema, name and rows of its own.
    const db = createKysely<unknown>(pub3.adminUrl, { max: 1, applicationName: 'test' });
    try {
      await migrate(db, 'publisher');
    } finally {
      await db.destroy();
    }
    await withClient(pub3.adminUrl, (p) =>
      p.query("ALTER TABLE data ALTER COLUMN publisher SET DEFAULT 'pub3'"),
    );
    pub3Rows = await insert(pub3.adminUrl, 500);
    await allArrive([...(await insert(c.publishers[0]?.adminUrl as string))]);
    const before = await applyPids();
    expect(Object.keys(before)).toEqual(['collector_pub1', 'collector_pub2']);

    // Rows keep being written on pub1 and pub2 during the add.
    const during: string[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        during.push(...(await insert(c.publishers[i % 2]?.adminUrl as string)));
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    let res: Awaited<ReturnType<typeof cli>>;
    try {
      res = await cli(['publishers', 'add', 'pub3', '--url', pub3.adminUrl]);
    } finally {
      writing = false;
      await writer;
    }
    show(res.stdout);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('pub3: wal_level = logical');
    expect(res.stdout).toContain('subscription collector_pub3 → pub3: created');
    expect(res.stdout).toContain('pub3: initial copy done, 500 row(s) from pub3 on the subscriber');
    expect(res.stdout).toContain('Publisher pub3 added. The other publishers were not touched.');
    expect(during.length).toBeGreaterThan(5);
    await allArrive([...pub3Rows, ...during]);
    const after = await applyPids();
    expect(after.collector_pub1).toBe(before.collector_pub1);
    expect(after.collector_pub2).toBe(before.collector_pub2);
    expect(after.collector_pub3).toEqual(expect.any(Number));
    // New rows on pub3 stream, stamped with its name.
    const [next] = await insert(pub3.adminUrl);
    await allArrive([next as string]);
    const row = await sub((db) => db.query('SELECT publisher FROM data WHERE id = $1', [next]));
    expect(row.rows[0]?.publisher).toBe('pub3');
    await waitState('pub3', 'streaming');
  });

  it('add: again on the same database only checks it; a taken name, a database already in the fleet and wal_level=replica are refused clearly', async () => {
    const again = await cli(['publishers', 'add', 'pub3', '--url', pub3.adminUrl]);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('subscription collector_pub3 → pub3: unchanged');
    expect(again.stdout).toContain(
      'Publisher pub3 was already in the fleet, on this database: checked, nothing changed.',
    );

    const taken = await cli(['publishers', 'add', 'pub3', '--url', plain.adminUrl]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain('publisher name "pub3" is taken: subscription collector_pub3');
    expect(taken.stderr).toContain('Choose another name, or remove that publisher first');

    const twice = await cli([
      'publishers',
      'add',
      'pubx',
      '--url',
      c.publishers[0]?.adminUrl ?? '',
    ]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('this database already stamps its rows as publisher "pub1"');

    const replica = await cli(['publishers', 'add', 'plain', '--url', plain.adminUrl]);
    show(replica.stderr);
    expect(replica.code).toBe(1);
    expect(replica.stderr).toContain(
      'publisher plain has wal_level = replica: logical replication needs wal_level = logical',
    );
    expect(replica.stderr).toContain('ALTER SYSTEM SET wal_level = logical');

    const badName = await cli(['publishers', 'add', 'Pub-4', '--url', plain.adminUrl]);
    expect(badName.code).toBe(1);
    expect(badName.stderr).toContain('Publisher name "Pub-4" is invalid');
    const noUrl = await cli(['publishers', 'add', 'pub4']);
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toContain('--url postgres://');
    // Nothing of the refused ones reached the subscriber.
    expect((await status()).map((s) => s.name)).toEqual(['pub1', 'pub2', 'pub3']);
  });

  it('resync: a slot lost while the subscriber was down comes back with every row, none twice', async () => {
    // An annotation on a pub3 row: resync must keep it, and its datum.
    annotated = pub3Rows[0] as string;
    await sub((db) =>
      db.query(
        `INSERT INTO annotation (data_id, body, author) VALUES ($1, '{"note":"keep me"}', 'admin')`,
        [annotated],
      ),
    );
    const streamed = await insert(pub3.adminUrl, 3);
    await allArrive(streamed);

    await c.subscriberCluster.stop();
    let whileDown: string[] = [];
    try {
      // Rows the subscriber never saw, then WAL past max_slot_wal_keep_size (1MB: each switch
      // starts a new 16MB segment), and a checkpoint, which invalidates the slot.
      for (let i = 0; i < 4; i++) {
        whileDown.push(...(await insert(pub3.adminUrl, 20)));
        await withClient(pub3.adminUrl, (db) => db.query('SELECT pg_switch_wal()'));
      }
      await withClient(pub3.adminUrl, (db) => db.query('CHECKPOINT'));
      expect((await slotOnPub3())?.wal_status).toBe('lost');
    } finally {
      await c.subscriberCluster.start();
    }
    const lost = await waitState('pub3', 'slot lost');
    expect(lost.reason).toContain('wal_status = lost');
    const table = (await cli(['publishers', 'status'])).stdout;
    show(table);
    expect(table).toMatch(/\npub3\s+slot lost\s/);
    expect(table).toContain('pub3: fix: collector publishers resync pub3');
    // Written after the slot was lost: they must arrive too.
    const afterLost = await insert(pub3.adminUrl, 10);
    whileDown = [...whileDown, ...afterLost];
    expect((await copies(whileDown)).every((n) => n === 0)).toBe(true);
    // pub1 streams on meanwhile.
    await allArrive(await insert(c.publishers[0]?.adminUrl as string));

    const res = await cli(['publishers', 'resync', 'pub3']);
    show(res.stdout);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('pub3: slot lost');
    expect(res.stdout).toContain('Publisher pub3 resynced: 90 missing row(s) copied');

    const everything = await withClient(pub3.adminUrl, async (db) => {
      const { rows } = await db.query<{ id: string }>('SELECT id FROM data');
      return rows.map((r) => r.id);
    });
    expect(everything.length).toBe(500 + 1 + 3 + 80 + 10);
    expect(new Set(await copies(everything))).toEqual(new Set([1]));
    const counts = await sub((db) =>
      db.query<{ n: number; distinct_ids: number }>(
        "SELECT count(*)::int AS n, count(DISTINCT id)::int AS distinct_ids FROM data WHERE publisher = 'pub3'",
      ),
    );
    expect(counts.rows[0]).toEqual({ n: everything.length, distinct_ids: everything.length });
    const note = await sub((db) =>
      db.query('SELECT body FROM annotation WHERE data_id = $1', [annotated]),
    );
    expect(note.rows[0]?.body).toEqual({ note: 'keep me' });
    // The skipping of replayed rows is off again: streamed rows do not pay for it.
    expect(await skipping()).toBe('D');
    // And it streams again, from its new slot.
    await waitState('pub3', 'streaming');
    expect((await slotOnPub3())?.wal_status).not.toBe('lost');
    await allArrive(await insert(pub3.adminUrl, 2));
  });

  it('resync refuses a healthy slot unless forced; forced, it copies nothing twice', async () => {
    const healthy = await cli(['publishers', 'resync', 'pub2']);
    expect(healthy.code).toBe(1);
    expect(healthy.stderr).toContain('pub2 is streaming, not slot lost');
    const forced = await cli(['publishers', 'resync', 'pub2', '--force']);
    expect(forced.stderr).toBe('');
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain('Publisher pub2 resynced: 0 missing row(s) copied');
    // Every row of pub2 is on the subscriber exactly once (the primary key allows no more).
    const onPub2 = await withClient(c.publishers[1]?.adminUrl as string, async (db) =>
      (await db.query<{ id: string }>('SELECT id FROM data')).rows.map((r) => r.id),
    );
    expect(new Set(await copies(onPub2))).toEqual(new Set([1]));
    await allArrive(await insert(c.publishers[1]?.adminUrl as string));
    const unknown = await cli(['publishers', 'resync', 'nosuch']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no publisher "nosuch": the publishers are pub1, pub2, pub3');
  });

  it('DDL is not replicated: a column added on the subscriber first, then on a publisher, arrives; the other order stops that subscription until the subscriber has it and it is resumed', async () => {
    const pub1 = c.publishers[0]?.adminUrl as string;
    // Subscriber first, then the publisher: rows with the new column flow.
    await sub((db) => db.query('ALTER TABLE data ADD COLUMN note text'));
    await withClient(pub1, (db) => db.query('ALTER TABLE data ADD COLUMN note text'));
    const [noted] = await withClient(pub1, async (db) => {
      const { rows } = await db.query<{ id: string }>(
        `INSERT INTO data (data, note) VALUES ('{}', 'subscriber first') RETURNING id`,
      );
      return rows.map((r) => r.id);
    });
    await allArrive([noted as string]);
    const got = await sub((db) => db.query('SELECT note FROM data WHERE id = $1', [noted]));
    expect(got.rows[0]?.note).toBe('subscriber first');

    // The publisher first: the subscriber cannot apply a row with a column it lacks.
    await withClient(pub1, (db) => db.query('ALTER TABLE data ADD COLUMN tag text'));
    const [tagged] = await withClient(pub1, async (db) => {
      const { rows } = await db.query<{ id: string }>(
        `INSERT INTO data (data, tag) VALUES ('{}', 'publisher first') RETURNING id`,
      );
      return rows.map((r) => r.id);
    });
    const stopped = await waitState('pub1', 'stopped by error');
    const table = (await cli(['publishers', 'status'])).stdout;
    show(table);
    expect(stopped.reason).toMatch(/missing replicated column.*"tag"/);
    // The fix is the subscriber's schema, never a skip (which would lose the row).
    expect(table).toContain(`pub1: fix: add "tag" to the subscriber's data table first`);
    expect(table).not.toContain('resume pub1 --skip-failed-transaction');
    expect(await copies([tagged as string])).toEqual([0]);
    // The other publishers flow on.
    await allArrive(await insert(c.publishers[1]?.adminUrl as string));
    expect(table).toContain('then run collector publishers resume pub1');
    // The subscriber catches up with the schema and the subscription is resumed: the stopped
    // transaction applies, nothing lost.
    await sub((db) => db.query('ALTER TABLE data ADD COLUMN tag text'));
    const resumed = await cli(['publishers', 'resume', 'pub1']);
    expect(resumed.code).toBe(0);
    await allArrive([tagged as string]);
    await waitState('pub1', 'streaming');
  });

  it('remove: drops the subscription and its slot, keeps the rows; add again brings it back', async () => {
    const res = await cli(['publishers', 'remove', 'pub3']);
    show(res.stdout);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('Subscription collector_pub3 dropped');
    expect(res.stdout).toContain('Its replication slot collector_pub3 on pub3 is dropped.');
    expect(res.stdout).toMatch(/Kept on the subscriber: the \d+ row\(s\) pub3 sent/);
    expect(await slotOnPub3()).toBeUndefined();
    expect((await status()).map((s) => s.name)).toEqual(['pub1', 'pub2']);
    const kept = await sub((db) =>
      db.query<{ n: number }>("SELECT count(*)::int AS n FROM data WHERE publisher = 'pub3'"),
    );
    expect(kept.rows[0]?.n).toBeGreaterThan(500);
    // Rows written on pub3 now stay there.
    const [later] = await insert(pub3.adminUrl);
    await new Promise((r) => setTimeout(r, 500));
    expect(await copies([later as string])).toEqual([0]);

    // Added again: its copy skips the rows kept here, and brings the one written meanwhile.
    const back = await cli(['publishers', 'add', 'pub3', '--url', pub3.adminUrl]);
    expect(back.stderr).toBe('');
    expect(back.code).toBe(0);
    await allArrive([later as string]);
    expect(await skipping()).toBe('D');
    const all = await withClient(pub3.adminUrl, async (db) =>
      (await db.query<{ id: string }>('SELECT id FROM data')).rows.map((r) => r.id),
    );
    expect(new Set(await copies(all))).toEqual(new Set([1]));
  });

  it('remove of an unreachable publisher: says how to drop the slot by hand, and --forget-slot removes it anyway; --drop-data deletes its rows and their annotations', async () => {
    await pub3.stop();
    try {
      const refused = await cli(['publishers', 'remove', 'pub3']);
      show(refused.stderr);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('cannot reach publisher pub3 to drop its replication slot');
      expect(refused.stderr).toContain("SELECT pg_drop_replication_slot('collector_pub3');");
      expect(refused.stderr).toContain('--forget-slot');
      expect((await status()).map((s) => s.name)).toContain('pub3');

      const both = await cli(['publishers', 'remove', 'pub3', '--keep-data', '--drop-data']);
      expect(both.code).toBe(2);

      const res = await cli(['publishers', 'remove', 'pub3', '--forget-slot', '--drop-data']);
      show(res.stdout);
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      expect(res.stdout).toContain('Its replication slot collector_pub3 is LEFT on pub3');
      expect(res.stdout).toContain("SELECT pg_drop_replication_slot('collector_pub3');");
      expect(res.stdout).toMatch(
        /Deleted from the subscriber: \d+ row\(s\) of pub3, and 1 annotation/,
      );
    } finally {
      await pub3.start();
    }
    expect((await status()).map((s) => s.name)).toEqual(['pub1', 'pub2']);
    const left = await sub((db) =>
      db.query<{ n: number }>("SELECT count(*)::int AS n FROM data WHERE publisher = 'pub3'"),
    );
    expect(left.rows[0]?.n).toBe(0);
    // The slot really was left behind, and the printed statement drops it.
    expect(await slotOnPub3()).toBeDefined();
    await withClient(pub3.adminUrl, (db) =>
      db.query("SELECT pg_drop_replication_slot('collector_pub3')"),
    );
    expect(await slotOnPub3()).toBeUndefined();
    const help = await cli(['publishers', 'remove', '--help']);
    expect(help.stdout).toContain('--drop-data');
    expect(help.stdout).toMatch(/By default the rows it already sent STAY/);
  });

  it('add stops waiting for a copy that fails on a conflict, says what to do; fixed, resume completes the copy', async () => {
    // The subscriber holds a row under pub3's name with an id pub3 also has, but other data: the
    // copy meets a real conflict (not a replayed row), and disable_on_error stops the subscription.
    const [id] = (await insert(pub3.adminUrl)) as [string];
    await sub((db) =>
      db.query(
        `INSERT INTO data (id, publisher, data, created_at) VALUES ($1, 'pub3', '{"not": "the same"}', now())`,
        [id],
      ),
    );
    const res = await cli(['publishers', 'add', 'pub3', '--url', pub3.adminUrl]);
    show(res.stderr);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('the initial copy of pub3 stopped: duplicate key value');
    expect(res.stderr).toContain('then run: collector publishers resume pub3');
    const stopped = (await status()).find((s) => s.name === 'pub3');
    expect(stopped?.state).toBe('stopped by error');
    expect(stopped?.reason).toMatch(/duplicate key/);
    // The failed add left the replayed-row trigger on (pub3's copy is not done).
    expect(await skipping()).toBe('R');
    // Fixed on the subscriber, then resumed: the copy brings pub3's row, once.
    await sub((db) => db.query('DELETE FROM data WHERE id = $1', [id]));
    const resumed = await cli(['publishers', 'resume', 'pub3']);
    show(resumed.stdout);
    expect(resumed.code).toBe(0);
    // resume waits for the copy the failed add left, then turns the replayed-row trigger off.
    expect(resumed.stdout).toContain('pub3: initial copy done');
    expect(await skipping()).toBe('D');
    await waitState('pub3', 'streaming');
    const stored = await sub((db) =>
      db.query<{ data: unknown }>('SELECT data FROM data WHERE id = $1', [id]),
    );
    expect(stored.rows).toEqual([{ data: { from: 'publishers-ops' } }]);
  });
});
