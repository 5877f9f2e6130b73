/**
 * Idempotency-Key on POST /data, against the real publishers over HTTP: a retry returns the
 * original row and stores nothing; the same key with another body is a 409; keys belong to one
 * publisher, are never replicated, expire after their lifetime and are swept; 50 concurrent
 * duplicates store one row; a failed insert leaves the key free; bad keys get 400; and the API's
 * role gets no more than the table needs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../common/env.js';
import type { RunningService } from '../common/service.js';
import { publisherConfigFromEnv } from '../publisher-api/config.js';
import { repeat } from '../publisher-api/idempotency.js';
import { startPublisherApi } from '../publisher-api/start.js';
import { collector, http, uniqueTag, waitFor, withClient } from './helpers.js';

interface Publisher {
  name: string;
  url: string;
  adminUrl: string;
  apiDatabaseUrl: string;
}
const pub = (i = 0) => collector().publishers[i] as Publisher;

interface Created {
  id: string;
  publisher: string;
  data: unknown;
  createdAt: string;
  error: { code: string; message: string };
}

function postWithKey(key: string | undefined, data: unknown, url = pub().url) {
  return http<Created>(`${url}/data`, {
    method: 'POST',
    headers: key === undefined ? {} : { 'idempotency-key': key },
    json: { data },
  });
}

/** Ids of the rows on publisher `i` whose JSON text contains `marker`. */
async function idsContaining(marker: string, i = 0): Promise<string[]> {
  return withClient(pub(i).adminUrl, async (c) => {
    const { rows } = await c.query<{ id: string }>(
      'SELECT id FROM data WHERE data::text LIKE $1 ORDER BY created_at',
      [`%${marker}%`],
    );
    return rows.map((r) => r.id);
  });
}

/** The data id a key points at on publisher `i`, if the key is remembered there. */
async function keyTarget(key: string, i = 0): Promise<string | undefined> {
  return withClient(pub(i).adminUrl, async (c) => {
    const { rows } = await c.query<{ data_id: string }>(
      'SELECT data_id FROM idempotency_key WHERE key = $1',
      [key],
    );
    return rows[0]?.data_id;
  });
}

/** Makes a remembered key look `hours` old. */
async function age(key: string, hours: number): Promise<void> {
  await withClient(pub().adminUrl, (c) =>
    c.query(
      'UPDATE idempotency_key SET created_at = now() - make_interval(hours => $2) WHERE key = $1',
      [key, hours],
    ),
  );
}

describe('Idempotency-Key: retries', () => {
  it('a retry gets the original row with 200 and stores nothing new', async () => {
    const key = uniqueTag('key');
    const marker = uniqueTag('retry');
    const first = await postWithKey(key, { marker, n: 12345678901234567890n.toString() });
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await postWithKey(key, { marker, n: 12345678901234567890n.toString() });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.text).toBe(first.text);
    expect(await idsContaining(marker)).toEqual([first.body.id]);
    expect(await keyTarget(key)).toBe(first.body.id);
  });

  it('the same key with another body gets 409 and stores nothing', async () => {
    const key = uniqueTag('key');
    const marker = uniqueTag('conflict');
    const first = await postWithKey(key, { marker, v: 1 });
    expect(first.status).toBe(201);
    const other = await postWithKey(key, { marker, v: 2 });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('CONFLICT');
    expect(other.body.error.message).toContain(key);
    expect(other.body.error.message).toMatch(/different body.*new key/);
    expect(await idsContaining(marker)).toEqual([first.body.id]);
  });

  it('without the header, every request stores a row', async () => {
    const marker = uniqueTag('nokey');
    expect((await postWithKey(undefined, { marker })).status).toBe(201);
    expect((await postWithKey(undefined, { marker })).status).toBe(201);
    expect(await idsContaining(marker)).toHaveLength(2);
  });

  it('50 concurrent identical requests store one row and all get its id', async () => {
    const key = uniqueTag('key');
    const marker = uniqueTag('burst');
    // The table is held (SHARE blocks the transactions' writes, not the lookups) until several
    // requests wait inside their transactions: otherwise the first request may well finish
    // before the others start, and the race would go untested.
    const results = await withClient(pub().adminUrl, async (holder) => {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE idempotency_key IN SHARE MODE');
      const requests = Promise.all(Array.from({ length: 50 }, () => postWithKey(key, { marker })));
      await waitFor('requests waiting in their transactions', async () => {
        const { rows } = await holder.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks
            WHERE relation = 'idempotency_key'::regclass AND NOT granted`,
        );
        return (rows[0]?.n ?? 0) >= 5 ? true : undefined;
      });
      await holder.query('COMMIT');
      return requests;
    });
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([...Array(49).fill(200), 201]);
    const ids = new Set(results.map((r) => r.body.id));
    expect(ids.size).toBe(1);
    expect(await idsContaining(marker)).toEqual([...ids]);
  });

  it('a failed insert leaves the key free', async () => {
    const key = uniqueTag('key');
    const marker = uniqueTag('failed');
    // jsonb cannot store \u0000: the insert fails inside the transaction that takes the key.
    const failed = await http<Created>(`${pub().url}/data`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: `{"data": {"m": "${marker}", "nul": "a\\u0000b"}}`,
    });
    expect(failed.status).toBe(400);
    expect(await keyTarget(key)).toBeUndefined();
    const ok = await postWithKey(key, { marker });
    expect(ok.status).toBe(201);
    expect(await idsContaining(marker)).toEqual([ok.body.id]);
  });

  it.each([
    ['empty', ''],
    ['256 characters', 'k'.repeat(256)],
    ['a space', 'a b'],
    ['a tab', 'a\tb'],
    ['a non-ASCII character', 'caf\u00e9'],
  ])('a key that is %s gets 400 and stores nothing', async (_what, key) => {
    const marker = uniqueTag('badkey');
    const res = await postWithKey(key, { marker });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('BAD_USER_INPUT');
    expect(res.body.error.message).toMatch(/Idempotency-Key.*1 to 255 visible ASCII/);
    expect(await idsContaining(marker)).toEqual([]);
  });

  it('a key of 255 visible ASCII characters is fine', async () => {
    const key = `${uniqueTag('k')}!~"#`.padEnd(255, 'x');
    expect((await postWithKey(key, { ok: true })).status).toBe(201);
    expect((await postWithKey(key, { ok: true })).status).toBe(200);
  });
});

describe('Idempotency-Key: scope and replication', () => {
  it('belongs to one publisher: the same key on another stores its own row', async () => {
    const key = uniqueTag('key');
    const marker = uniqueTag('scope');
    const one = await postWithKey(key, { marker }, pub(0).url);
    const two = await postWithKey(key, { marker }, pub(1).url);
    expect([one.status, two.status]).toEqual([201, 201]);
    expect(two.body.id).not.toBe(one.body.id);
    expect(two.body.publisher).toBe(pub(1).name);
    expect(await keyTarget(key, 0)).toBe(one.body.id);
    expect(await keyTarget(key, 1)).toBe(two.body.id);
  });

  it('is never published: the publication holds the data table only', async () => {
    await withClient(pub().adminUrl, async (c) => {
      const { rows } = await c.query(
        "SELECT tablename FROM pg_publication_tables WHERE pubname = 'collector_pub'",
      );
      expect(rows).toEqual([{ tablename: 'data' }]);
    });
    await withClient(collector().subscriberAdminUrl, async (c) => {
      const { rows } = await c.query("SELECT to_regclass('idempotency_key') AS t");
      expect(rows[0]?.t).toBeNull();
    });
  });
});

describe('Idempotency-Key: lifetime', () => {
  it('is remembered a day by default, configurable, and a bad value names the variable', () => {
    const env = { COLLECTOR_PUBLISHER_DATABASE_URL: 'postgres://u:p@db:5432/collector' };
    expect(publisherConfigFromEnv(env)).toMatchObject({
      idempotencyTtlSeconds: 86_400,
      idempotencySweepSeconds: 600,
    });
    expect(
      publisherConfigFromEnv({
        ...env,
        COLLECTOR_IDEMPOTENCY_TTL_SECONDS: '172800',
        COLLECTOR_IDEMPOTENCY_SWEEP_SECONDS: '60',
      }),
    ).toMatchObject({ idempotencyTtlSeconds: 172_800, idempotencySweepSeconds: 60 });
    try {
      publisherConfigFromEnv({ ...env, COLLECTOR_IDEMPOTENCY_TTL_SECONDS: 'a day' });
      expect.unreachable();
    } catch (e) {
      expect((e as ConfigError).problems).toEqual([
        expect.stringMatching(/^COLLECTOR_IDEMPOTENCY_TTL_SECONDS: must be an integer/),
      ]);
    }
  });

  it('an expired key is taken anew, whatever the body: a new row', async () => {
    const key = uniqueTag('key');
    const marker = uniqueTag('expired');
    const first = await postWithKey(key, { marker, v: 1 });
    await age(key, 25);
    const second = await postWithKey(key, { marker, v: 2 });
    expect(second.status).toBe(201);
    expect(second.body.id).not.toBe(first.body.id);
    expect(await keyTarget(key)).toBe(second.body.id);
    expect(await idsContaining(marker)).toEqual([first.body.id, second.body.id]);
    // And the new one is remembered.
    expect((await postWithKey(key, { marker, v: 2 })).status).toBe(200);
  });

  describe('with a lifetime of one hour', () => {
    let hourly: RunningService;
    beforeAll(async () => {
      hourly = await startPublisherApi({
        databaseUrl: pub().apiDatabaseUrl,
        host: '127.0.0.1',
        port: 0,
        bodyLimit: 1024 * 1024,
        logLevel: 'silent',
        idempotencyTtlSeconds: 3600,
      });
    });
    afterAll(() => hourly.stop());

    it('a key two hours old is still valid by default, and expired here', async () => {
      const key = uniqueTag('key');
      const marker = uniqueTag('hourly');
      const first = await postWithKey(key, { marker });
      await age(key, 2);
      const byDefault = await postWithKey(key, { marker });
      expect(byDefault.status).toBe(200);
      expect(byDefault.body.id).toBe(first.body.id);
      const here = await postWithKey(key, { marker }, hourly.url);
      expect(here.status).toBe(201);
      expect(here.body.id).not.toBe(first.body.id);
    });
  });

  describe('the sweep', () => {
    let sweeping: RunningService;
    beforeAll(async () => {
      sweeping = await startPublisherApi({
        databaseUrl: pub().apiDatabaseUrl,
        host: '127.0.0.1',
        port: 0,
        bodyLimit: 1024 * 1024,
        logLevel: 'silent',
        idempotencySweepSeconds: 1,
      });
    });
    afterAll(() => sweeping.stop());

    it('deletes expired keys and keeps the others', async () => {
      const [old, fresh] = [uniqueTag('old'), uniqueTag('fresh')];
      expect((await postWithKey(old, { x: 1 })).status).toBe(201);
      expect((await postWithKey(fresh, { x: 1 })).status).toBe(201);
      await age(old, 25);
      await waitFor('the expired key to be swept', async () =>
        (await keyTarget(old)) === undefined ? true : undefined,
      );
      expect(await keyTarget(fresh)).toBeDefined();
    });
  });

  it('the periodic task runs one at a time, survives errors, and stop waits for it', async () => {
    let runs = 0;
    let errors = 0;
    let inFlight = false;
    const task = repeat(
      async () => {
        runs++;
        inFlight = true;
        await new Promise((r) => setTimeout(r, 30));
        inFlight = false;
        if (runs === 1) throw new Error('first run fails');
      },
      5,
      () => errors++,
    );
    await waitFor('three runs', async () => (runs >= 3 && inFlight ? true : undefined));
    await task.stop();
    // stop() returned after the run in progress ended, and nothing runs afterwards.
    expect(inFlight).toBe(false);
    const after = runs;
    await new Promise((r) => setTimeout(r, 60));
    expect(runs).toBe(after);
    expect(errors).toBe(1);
  });
});

describe('Idempotency-Key: least privilege', () => {
  it('the API role may read, take and delete keys, and nothing more', async () => {
    await withClient(pub().adminUrl, async (c) => {
      const table = await c.query(
        `SELECT privilege_type FROM information_schema.table_privileges
          WHERE grantee = 'collector_publisher_api' AND table_name = 'idempotency_key'`,
      );
      expect(table.rows.map((r) => r.privilege_type)).toEqual(['DELETE']);
      const columns = await c.query(
        `SELECT privilege_type, string_agg(column_name, ',' ORDER BY column_name) AS columns
           FROM information_schema.column_privileges
          WHERE grantee = 'collector_publisher_api' AND table_name = 'idempotency_key'
          GROUP BY privilege_type ORDER BY privilege_type`,
      );
      expect(columns.rows).toEqual([
        { privilege_type: 'INSERT', columns: 'data_id,key,request_hash' },
        { privilege_type: 'SELECT', columns: 'created_at,data_id,key,request_hash' },
      ]);
      // The data table is still insert-only for the API.
      const data = await c.query(
        `SELECT has_table_privilege('collector_publisher_api', 'data', 'UPDATE') AS u,
                has_table_privilege('collector_publisher_api', 'data', 'DELETE') AS d`,
      );
      expect(data.rows).toEqual([{ u: false, d: false }]);
      // The replication role cannot read keys.
      const replicator = await c.query(
        `SELECT has_table_privilege('collector_replicator', 'idempotency_key', 'SELECT') AS s`,
      );
      expect(replicator.rows).toEqual([{ s: false }]);
    });
    await withClient(pub().apiDatabaseUrl, async (c) => {
      await expect(
        c.query('UPDATE idempotency_key SET data_id = data_id WHERE false'),
      ).rejects.toThrow(/permission denied/);
      await expect(
        c.query(
          `INSERT INTO idempotency_key (key, request_hash, data_id, created_at)
           VALUES ('x', sha256(''), gen_random_uuid(), now() + interval '1 year')`,
        ),
      ).rejects.toThrow(/permission denied/);
      await expect(c.query('TRUNCATE idempotency_key')).rejects.toThrow(/permission denied/);
    });
  });
});
