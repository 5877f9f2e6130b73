/**
 * Publisher API keys, end to end: keys made by the real CLI process, stored hashed on the real
 * publisher databases, checked by real publisher APIs (in `required` and `optional` mode), and
 * kept off the subscriber.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../common/env.js';
import type { RunningService } from '../common/service.js';
import {
  ApiKeyVerifier,
  generateApiKey,
  hashApiKey,
  storeApiKey,
} from '../publisher-api/api-keys.js';
import { publisherConfigFromEnv } from '../publisher-api/config.js';
import type { PublisherDB } from '../publisher-api/db.js';
import { CLI, runCli } from './cli-process.js';
import { collector, http, startTestApi, uniqueTag, waitFor, withClient } from './helpers.js';

const pubs = () => collector().publishers as Array<{ name: string; url: string; adminUrl: string }>;
const pub1 = () => pubs()[0] as { name: string; url: string; adminUrl: string };

/** `--database-url pub1=…` (and pub2), as against real hosts. */
const urlArgs = (names = ['pub1']) =>
  names.flatMap((n) => ['--database-url', `${n}=${pubs().find((p) => p.name === n)?.adminUrl}`]);

/** Runs `publisher-keys create` and returns the printed key. */
async function createKey(name: string, extra: string[] = []): Promise<string> {
  const res = await runCli(['publisher-keys', 'create', name, ...urlArgs(), ...extra]);
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  const key = /^(cpk_[A-Za-z0-9_-]{43})$/m.exec(res.stdout)?.[1];
  if (!key) throw new Error(`no key printed: ${res.stdout}`);
  return key;
}

const keyName = (prefix: string) => uniqueTag(prefix).slice(0, 40);

function post(url: string, key?: string, scheme = 'Bearer') {
  return http<{ id: string; error?: { code: string; message: string } }>(`${url}/data/`, {
    method: 'POST',
    headers: key === undefined ? {} : { authorization: `${scheme} ${key}` },
    json: { data: { tag: uniqueTag('key') } },
  });
}

function get(url: string, key?: string) {
  return http<{ items?: unknown[]; error?: { code: string; message: string } }>(
    `${url}/data?first=1`,
    { headers: key === undefined ? {} : { authorization: `Bearer ${key}` } },
  );
}

/** A well-formed key that was never created. */
const strangerKey = () => `cpk_${Buffer.alloc(32, 7).toString('base64url')}`;

let required: RunningService;
let optional: RunningService;
let insertKey: string;
let readKey: string;

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" (npm test does)`);
  required = await startTestApi({ auth: 'required', keyCacheTtlMs: 1000 });
  optional = await startTestApi({ auth: 'optional', keyCacheTtlMs: 1000 });
  insertKey = await createKey(keyName('ins'));
  readKey = await createKey(keyName('rd'), ['--read']);
});
afterAll(async () => {
  await required?.stop();
  await optional?.stop();
});

describe('COLLECTOR_PUBLISHER_AUTH', () => {
  const DB = 'postgres://u:p@db:5432/collector';
  it('is optional by default, required by default in production, and refuses other values', () => {
    expect(publisherConfigFromEnv({ COLLECTOR_PUBLISHER_DATABASE_URL: DB }).auth).toBe('optional');
    expect(
      publisherConfigFromEnv({ COLLECTOR_PUBLISHER_DATABASE_URL: DB, NODE_ENV: 'production' }).auth,
    ).toBe('required');
    expect(
      publisherConfigFromEnv({
        COLLECTOR_PUBLISHER_DATABASE_URL: DB,
        NODE_ENV: 'production',
        COLLECTOR_PUBLISHER_AUTH: 'optional',
      }).auth,
    ).toBe('optional');
    expect(() =>
      publisherConfigFromEnv({
        COLLECTOR_PUBLISHER_DATABASE_URL: DB,
        COLLECTOR_PUBLISHER_AUTH: 'yes',
      }),
    ).toThrow(ConfigError);
  });
});

describe('optional mode (npm start)', () => {
  it('allows a request without a key', async () => {
    expect((await post(optional.url)).status).toBe(201);
    expect((await get(optional.url)).status).toBe(200);
  });

  it('still checks a key that is sent', async () => {
    const wrong = await post(optional.url, strangerKey());
    expect(wrong.status).toBe(401);
    expect(wrong.body.error?.code).toBe('UNAUTHENTICATED');
    expect((await post(optional.url, 'not-a-key')).status).toBe(401);
    expect((await post(optional.url, insertKey, 'Basic')).status).toBe(401);
    expect((await post(optional.url, insertKey)).status).toBe(201);
    expect((await get(optional.url, insertKey)).status).toBe(403);
  });

  it("keeps the original project's curl working on the local collector", async () => {
    // The test collector's APIs run as npm start runs them: no NODE_ENV=production, no setting.
    const { stdout } = await promisify(execFile)('curl', [
      '-s',
      '-w',
      '\n%{http_code}',
      '-H',
      'Content-Type: application/json',
      '-X',
      'POST',
      '-d',
      '{"data": {"email":"john@email.com","amount":123}}',
      `${pub1().url}/data/`,
    ]);
    expect(stdout.split('\n').at(-1)).toBe('201');
  });
});

describe('required mode', () => {
  it('refuses a request without a key, saying how to get one', async () => {
    const res = await post(required.url);
    expect(res.status).toBe(401);
    expect(res.body.error?.code).toBe('UNAUTHENTICATED');
    expect(res.body.error?.message).toContain('collector publisher-keys create');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await get(required.url)).status).toBe(401);
    expect((await http(`${required.url}/data/${crypto.randomUUID()}`)).status).toBe(401);
  });

  it('says which scope a key lacks, and that a malformed key is none', async () => {
    const list = await get(required.url, insertKey);
    expect(list.body.error?.message).toContain('collector publisher-keys create <name> --read');
    const bad = await post(required.url, 'nope');
    expect(bad.body.error?.message).toMatch(/^This is not a publisher API key/);
  });

  it('refuses an unknown or malformed key, or another scheme, with 401', async () => {
    for (const [key, scheme] of [
      [strangerKey(), 'Bearer'],
      [`${insertKey}x`, 'Bearer'],
      ['', 'Bearer'],
      [insertKey, 'Token'],
    ] as const) {
      const res = await post(required.url, key, scheme);
      expect(res.status, `${scheme} ${key}`).toBe(401);
      expect(res.body.error?.code).toBe('UNAUTHENTICATED');
    }
  });

  it('lets an insert key store data, but not read it (403)', async () => {
    expect((await post(required.url, insertKey)).status).toBe(201);
    const list = await get(required.url, insertKey);
    expect(list.status).toBe(403);
    expect(list.body.error?.code).toBe('FORBIDDEN');
    expect(list.body.error?.message).toMatch(/read/);
    const one = await http(`${required.url}/data/${crypto.randomUUID()}`, {
      headers: { authorization: `Bearer ${insertKey}` },
    });
    expect(one.status).toBe(403);
  });

  it('lets a read key read (and insert)', async () => {
    const created = await post(required.url, readKey);
    expect(created.status).toBe(201);
    expect((await get(required.url, readKey)).status).toBe(200);
    const one = await http<{ id: string }>(`${required.url}/data/${created.body.id}`, {
      headers: { authorization: `bearer ${readKey}` },
    });
    expect(one.status).toBe(200);
    expect(one.body.id).toBe(created.body.id);
  });

  it('keeps /health and / open, and unknown routes and methods answer as before', async () => {
    expect((await http(`${required.url}/health`)).status).toBe(200);
    const root = await http<{ authentication: string }>(`${required.url}/`);
    expect(root.status).toBe(200);
    expect(root.body.authentication).toMatch(/^required/);
    expect((await http(`${required.url}/nothing-here`)).status).toBe(404);
    expect((await http(`${required.url}/data`, { method: 'DELETE' })).status).toBe(405);
    // A browser's CORS preflight carries no Authorization header.
    const preflight = await http(`${required.url}/data`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:3000',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(preflight.status).toBe(204);
  });

  it('answers from its cache within the TTL, and refuses a revoked key after it', async () => {
    const api = await startTestApi({ auth: 'required', keyCacheTtlMs: 2000 });
    try {
      const name = keyName('rev');
      const key = await createKey(name);
      expect((await post(api.url, key)).status).toBe(201);
      const checked = Date.now();
      // Revoked straight in the database: the API does not look again before the TTL is over.
      await withClient(pub1().adminUrl, (c) =>
        c.query('UPDATE api_key SET revoked_at = now() WHERE name = $1', [name]),
      );
      const cached = await post(api.url, key);
      if (Date.now() - checked < 1500) expect(cached.status).toBe(201);
      await waitFor('the revoked key refused', async () =>
        (await post(api.url, key)).status === 401 ? true : undefined,
      );
      expect(Date.now() - checked).toBeLessThan(2000 + 1500);
    } finally {
      await api.stop();
    }
  });

  it('refuses a key revoked with the CLI once the TTL (1 s here) is over', async () => {
    const name = keyName('cli');
    const key = await createKey(name);
    expect((await post(required.url, key)).status).toBe(201);
    const revoked = await runCli(['publisher-keys', 'revoke', name, ...urlArgs()]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain('pub1: revoked');
    const since = Date.now();
    await waitFor('the revoked key refused', async () =>
      (await post(required.url, key)).status === 401 ? true : undefined,
    );
    expect(Date.now() - since).toBeLessThan(1000 + 1500);
    const again = await runCli(['publisher-keys', 'revoke', name, ...urlArgs()]);
    expect(again.stdout).toContain('pub1: already revoked');
  });
});

describe('the key cache (no database round trip per request)', () => {
  /** A Kysely on `url` that counts the statements it runs: the real database, instrumented. */
  function counted(url: string) {
    const counter = { queries: 0 };
    const db = new Kysely<PublisherDB>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 4 }) }),
      log: (event) => {
        if (event.level === 'query') counter.queries++;
      },
    });
    return { db, counter };
  }

  it('looks a key up at most once per TTL, however many requests, and forgets it after', async () => {
    const admin = counted(pub1().adminUrl);
    // The verifier runs as the API's own role, with its column grants.
    const api = counted((collector().publishers[0] as { apiDatabaseUrl: string }).apiDatabaseUrl);
    try {
      const key = generateApiKey();
      await storeApiKey(admin.db, keyName('cache'), hashApiKey(key), ['insert']);
      let now = 1_000_000;
      const verifier = new ApiKeyVerifier(api.db, 5000, () => now);

      // 50 concurrent first requests share one lookup.
      const first = await Promise.all(Array.from({ length: 50 }, () => verifier.verify(key)));
      expect(first.every((s) => JSON.stringify(s) === '["insert"]')).toBe(true);
      expect(api.counter.queries).toBe(1);
      // Within the TTL: answered from memory, synchronously (no promise at all).
      for (let i = 0; i < 200; i++) expect(verifier.verify(key)).toEqual(['insert']);
      expect(api.counter.queries).toBe(1);
      // After it: looked up again, once.
      now += 5001;
      expect(await verifier.verify(key)).toEqual(['insert']);
      expect(verifier.verify(key)).toEqual(['insert']);
      expect(api.counter.queries).toBe(2);

      // An unknown key is remembered as unknown; a malformed one never reaches the database.
      const stranger = generateApiKey();
      expect(await verifier.verify(stranger)).toBeUndefined();
      for (let i = 0; i < 20; i++) expect(verifier.verify(stranger)).toBeUndefined();
      for (let i = 0; i < 20; i++) expect(verifier.verify(`cpk_short${i}`)).toBeUndefined();
      expect(api.counter.queries).toBe(3);
    } finally {
      await admin.db.destroy();
      await api.db.destroy();
    }
  });
});

describe('key storage', () => {
  it('stores the SHA-256 of the key, never the key', async () => {
    const name = keyName('hash');
    const key = await createKey(name);
    const row = await withClient(pub1().adminUrl, async (c) => {
      const { rows } = await c.query<{ key_hash: Buffer; scopes: string[]; whole: string }>(
        'SELECT key_hash, scopes, row_to_json(k)::text AS whole FROM api_key k WHERE name = $1',
        [name],
      );
      return rows[0];
    });
    expect(row?.key_hash.equals(createHash('sha256').update(key).digest())).toBe(true);
    expect(row?.scopes).toEqual(['insert']);
    expect(row?.whole).not.toContain(key.slice(4));
  });

  it('list shows names, publishers and scopes, never the key or its hash', async () => {
    const name = keyName('lst');
    const key = await createKey(name, ['--scope', 'insert,read']);
    const hash = createHash('sha256').update(key).digest();
    const text = await runCli(['publisher-keys', 'list', ...urlArgs()]);
    const json = await runCli(['publisher-keys', 'list', '--json', ...urlArgs()]);
    expect(text.code).toBe(0);
    expect(json.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`${name}\\s+pub1\\s+insert,read\\s+\\d{4}-`));
    const entry = (JSON.parse(json.stdout) as Array<Record<string, unknown>>).find(
      (k) => k.name === name,
    );
    expect(entry).toEqual({
      name,
      publisher: 'pub1',
      scopes: ['insert', 'read'],
      createdAt: expect.any(String),
      revokedAt: null,
    });
    for (const out of [text.stdout, json.stdout]) {
      expect(out).not.toContain('cpk_');
      for (const form of ['hex', 'base64', 'base64url'] as const) {
        expect(out).not.toContain(hash.toString(form).slice(0, 16));
      }
    }
  });

  it('never replicates keys: the subscriber has no api_key table, the publication only data', async () => {
    await createKey(keyName('rep'));
    const onSubscriber = await withClient(collector().subscriberAdminUrl, async (c) => {
      const { rows } = await c.query<{ t: string | null }>("SELECT to_regclass('api_key') AS t");
      return rows[0]?.t;
    });
    expect(onSubscriber).toBeNull();
    const published = await withClient(pub1().adminUrl, async (c) => {
      const { rows } = await c.query<{ tablename: string }>(
        "SELECT tablename FROM pg_publication_tables WHERE pubname = 'collector_pub'",
      );
      return rows.map((r) => r.tablename);
    });
    expect(published).toEqual(['data']);
  });
});

describe('collector publisher-keys', () => {
  const localEnv = () => ({
    COLLECTOR_DATA_DIR: collector().dataDir,
    COLLECTOR_PG_PORT_BASE: new URL(collector().subscriberAdminUrl).port,
    COLLECTOR_PUBLISHER_ADMIN_URLS: '',
  });

  it('stores the same key on every local publisher by default, or on the one named', async () => {
    const both = keyName('all');
    const made = await runCli(['publisher-keys', 'create', both], { env: localEnv() });
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    expect(made.stdout).toContain('created on pub1, pub2 (the same key on each)');
    const key = /^(cpk_\S+)$/m.exec(made.stdout)?.[1] as string;
    for (const p of pubs()) {
      const api = await startTestApi({
        databaseUrl: (p as unknown as { apiDatabaseUrl: string }).apiDatabaseUrl,
        auth: 'required',
      });
      try {
        expect((await post(api.url, key)).status, p.name).toBe(201);
      } finally {
        await api.stop();
      }
    }

    const one = keyName('one');
    const only = await runCli(['publisher-keys', 'create', one, '--publisher', 'pub2'], {
      env: localEnv(),
    });
    expect(only.code).toBe(0);
    expect(only.stdout).toContain('created on pub2,');
    const listed = await runCli(['publisher-keys', 'list', '--json'], { env: localEnv() });
    const rows = (JSON.parse(listed.stdout) as Array<{ name: string; publisher: string }>).filter(
      (k) => k.name === one || k.name === both,
    );
    expect(rows.map((r) => `${r.name}@${r.publisher}`).sort()).toEqual(
      [`${both}@pub1`, `${both}@pub2`, `${one}@pub2`].sort(),
    );
  });

  it('explains mistakes: a taken name, a bad scope or name, an unknown publisher or key', async () => {
    const name = keyName('dup');
    await createKey(name);
    const dup = await runCli(['publisher-keys', 'create', name, ...urlArgs()]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain(`a key named "${name}" already exists on pub1`);

    const scope = await runCli(['publisher-keys', 'create', keyName('s'), '--scope', 'admin']);
    expect(scope.code).toBe(2);
    expect(scope.stderr).toContain('unknown scope "admin"');

    const badName = await runCli(['publisher-keys', 'create', 'no spaces', ...urlArgs()]);
    expect(badName.code).toBe(1);
    expect(badName.stderr).toContain('Key name "no spaces" is invalid');

    const pub = await runCli(['publisher-keys', 'list', '--publisher', 'pub9'], {
      env: localEnv(),
    });
    expect(pub.code).toBe(2);
    expect(pub.stderr).toContain('unknown publisher "pub9": the publishers are pub1, pub2');

    const unknown = await runCli(['publisher-keys', 'revoke', keyName('nope'), ...urlArgs()]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no key named');
  });

  it('has help with examples', async () => {
    const res = await runCli(['publisher-keys', '--help']);
    expect(res.code).toBe(0);
    for (const s of ['create', 'list', 'revoke', 'Examples:', '--read']) {
      expect(res.stdout).toContain(s);
    }
    const create = await runCli(['publisher-keys', 'create', '--help']);
    expect(create.stdout).toContain('--database-url');
    expect(create.stdout).toContain('COLLECTOR_PUBLISHER_ADMIN_URLS');
  });
});
