/**
 * `collector publisher-keys …`: API keys of the publishers' REST APIs, written straight into each
 * publisher's api_key table over an admin connection (the API's own role may only read it).
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { createKysely } from '../../common/db.js';
import { readConfig } from '../../common/env.js';
import { AppError } from '../../common/errors.js';
import {
  type ApiKeyInfo,
  deleteApiKey,
  generateApiKey,
  hashApiKey,
  keyNameTaken,
  listApiKeys,
  parseScopes,
  revokeApiKey,
  type Scope,
  storeApiKey,
} from '../../publisher-api/api-keys.js';
import type { PublisherDB } from '../../publisher-api/db.js';
import { setupSchema } from '../config.js';
import { CliError, localAdminUrl, localCollector, withLocalHint } from './shared.js';

interface Target {
  name: string;
  url: string;
  local: boolean;
}

interface TargetOptions {
  databaseUrl?: string[];
  publisher?: string[];
}

const collect = (value: string, previous: string[] = []) => [
  ...previous,
  ...value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean),
];
const collectUrls = (value: string, previous: string[] = []) => [...previous, value];

/** `name=postgres://…` or a bare URL (then named after its host and port). */
function namedUrl(item: string): Target {
  const eq = item.indexOf('=');
  const named = eq > 0 && !item.slice(0, eq).includes('://');
  const url = named ? item.slice(eq + 1) : item;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`--database-url "${item}" is not a postgres:// URL`, 2);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new CliError(`--database-url must start with postgres://, got "${parsed.protocol}//"`, 2);
  }
  return { name: named ? item.slice(0, eq) : parsed.host, url, local: false };
}

/** The publishers of the local collector: pub1..pubN, as initialised under its data directory. */
async function localTargets(): Promise<Target[]> {
  const { dataDir } = await localCollector();
  const indexes = readdirSync(dataDir)
    .map((d) => /^pub([1-9]\d*)$/.exec(d)?.[1])
    .filter(
      (i): i is string =>
        i !== undefined && existsSync(path.join(dataDir, `pub${i}`, 'PG_VERSION')),
    )
    .map(Number)
    .sort((a, b) => a - b);
  return Promise.all(
    indexes.map(async (i) => ({ name: `pub${i}`, url: await localAdminUrl(i), local: true })),
  );
}

/**
 * --database-url, else COLLECTOR_PUBLISHER_ADMIN_URLS, else COLLECTOR_PUBLISHER_ADMIN_URL, else the
 * local collector; then --publisher.
 */
async function targets(opts: TargetOptions): Promise<Target[]> {
  let all: Target[];
  if (opts.databaseUrl?.length) {
    all = opts.databaseUrl.map(namedUrl);
  } else if (process.env.COLLECTOR_PUBLISHER_ADMIN_URLS) {
    const { publishers } = readConfig({ publishers: setupSchema.publishers }, process.env);
    all = publishers.map((p) => ({ name: p.name, url: p.url, local: false }));
  } else if (process.env.COLLECTOR_PUBLISHER_ADMIN_URL) {
    // The one publisher of a compose `pubN-add` service (docker compose run --rm pub1-add …).
    all = [namedUrl(process.env.COLLECTOR_PUBLISHER_ADMIN_URL)];
  } else {
    all = await localTargets();
  }
  if (all.length === 0) throw new CliError('no publisher found: pass --database-url', 2);
  if (!opts.publisher?.length) return all;
  const unknown = opts.publisher.filter((n) => !all.some((t) => t.name === n));
  if (unknown.length > 0) {
    throw new CliError(
      `unknown publisher ${unknown.map((n) => `"${n}"`).join(', ')}: the publishers are ${all.map((t) => t.name).join(', ')}`,
      2,
    );
  }
  return all.filter((t) => opts.publisher?.includes(t.name));
}

async function onPublisher<T>(
  target: Target,
  work: (db: ReturnType<typeof createKysely<PublisherDB>>) => Promise<T>,
): Promise<T> {
  const db = createKysely<PublisherDB>(target.url, { max: 1, applicationName: 'collector-cli' });
  try {
    return await withLocalHint(target.local, () => work(db));
  } catch (e) {
    if (e instanceof CliError || e instanceof AppError) throw e;
    const message = (e as Error).message;
    if (/relation "api_key" does not exist/.test(message)) {
      throw new CliError(
        `publisher ${target.name} has no api_key table yet: run collector setup (or npm start) with this version first`,
      );
    }
    throw new CliError(`publisher ${target.name}: ${message}`);
  } finally {
    await db.destroy();
  }
}

const TARGET_HELP = `
Which publishers:
  With no --database-url, the running local collector of npm start (found by COLLECTOR_DATA_DIR
  and COLLECTOR_PG_PORT_BASE): every publisher, pub1..pubN, unless --publisher names some.
  Against real hosts: --database-url with a publisher's admin (superuser) URL, repeatable, as
  name=postgres://… or a bare URL; or COLLECTOR_PUBLISHER_ADMIN_URLS as for collector setup
  (pub1=postgres://…,pub2=postgres://…).`;

function targetOptions(cmd: Command): Command {
  return cmd
    .option(
      '--publisher <name>',
      'only this publisher (repeatable, or comma-separated; default: all)',
      collect,
    )
    .option(
      '--database-url <url>',
      "a publisher's admin URL, name=postgres://… or postgres://… (repeatable; default: COLLECTOR_PUBLISHER_ADMIN_URLS, else the local collector)",
      collectUrls,
    )
    .addHelpText('after', TARGET_HELP);
}

function scopesOf(opts: { read?: boolean; scope?: string }): Scope[] {
  try {
    const scopes = parseScopes(opts.scope ?? 'insert');
    return opts.read && !scopes.includes('read')
      ? parseScopes([...scopes, 'read'].join(','))
      : scopes;
  } catch (e) {
    throw new CliError((e as Error).message, 2);
  }
}

async function create(
  name: string,
  opts: TargetOptions & { read?: boolean; scope?: string },
): Promise<void> {
  const scopes = scopesOf(opts);
  const list = await targets(opts);
  // Checked everywhere first, so that a taken name changes nothing anywhere.
  for (const t of list) {
    if (await onPublisher(t, (db) => keyNameTaken(db, name))) {
      throw new CliError(
        `a key named "${name}" already exists on ${t.name} (names are never reused, even after revoke): pick another name`,
      );
    }
  }
  const key = generateApiKey();
  const hash = hashApiKey(key);
  const stored: Target[] = [];
  try {
    for (const t of list) {
      await onPublisher(t, (db) => storeApiKey(db, name, hash, scopes));
      stored.push(t);
    }
  } catch (e) {
    // All or nothing: a key that works on some publishers only would be a puzzle later.
    for (const t of stored) await onPublisher(t, (db) => deleteApiKey(db, name)).catch(() => {});
    throw e;
  }
  const where = list.map((t) => t.name).join(', ');
  console.log(
    `API key "${name}" created on ${where}${list.length > 1 ? ' (the same key on each)' : ''}, scopes: ${scopes.join(', ')}.`,
  );
  console.log('Key (shown only this once; only its SHA-256 is stored):');
  console.log(key);
  console.log(
    `Use it as: curl -H "Authorization: Bearer ${key}" -H "Content-Type: application/json" -X POST -d '{"data": {}}' <publisher URL>/data/`,
  );
}

async function list(opts: TargetOptions & { json?: boolean }): Promise<void> {
  const rows: Array<ApiKeyInfo & { publisher: string }> = [];
  for (const t of await targets(opts)) {
    const keys = await onPublisher(t, (db) => listApiKeys(db));
    rows.push(...keys.map((k) => ({ ...k, publisher: t.name })));
  }
  if (opts.json) {
    console.log(
      JSON.stringify(
        rows.map((r) => ({
          name: r.name,
          publisher: r.publisher,
          scopes: r.scopes,
          createdAt: r.createdAt.toISOString(),
          revokedAt: r.revokedAt?.toISOString() ?? null,
        })),
        null,
        2,
      ),
    );
    return;
  }
  if (rows.length === 0) {
    console.log('No API keys. Create one with: collector publisher-keys create <name>');
    return;
  }
  const table = [
    ['NAME', 'PUBLISHER', 'SCOPES', 'CREATED', 'REVOKED'],
    ...rows.map((r) => [
      r.name,
      r.publisher,
      r.scopes.join(','),
      r.createdAt.toISOString(),
      r.revokedAt?.toISOString() ?? '-',
    ]),
  ];
  const widths = table[0]?.map((_, i) => Math.max(...table.map((row) => row[i]?.length ?? 0)));
  for (const row of table) {
    console.log(
      row
        .map((cell, i) => cell.padEnd(widths?.[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
  }
}

async function revoke(name: string, opts: TargetOptions): Promise<void> {
  const outcomes: string[] = [];
  let found = false;
  for (const t of await targets(opts)) {
    const outcome = await onPublisher(t, (db) => revokeApiKey(db, name));
    if (outcome !== 'unknown') found = true;
    outcomes.push(`${t.name}: ${outcome}`);
  }
  if (!found) {
    throw new CliError(
      `no key named "${name}" (${outcomes.map((o) => o.split(':')[0]).join(', ')}); see collector publisher-keys list`,
    );
  }
  console.log(`API key "${name}": ${outcomes.join(', ')}.`);
  console.log(
    'Running APIs refuse it once their cache of checked keys expires: within COLLECTOR_PUBLISHER_KEY_CACHE_TTL (5 s by default).',
  );
}

export function registerPublisherKeys(program: Command): void {
  const keys = program
    .command('publisher-keys')
    .description(
      "Manage the publishers' REST API keys (Authorization: Bearer <key>), stored hashed on each publisher.",
    )
    .addHelpText(
      'after',
      `
Examples:
  collector publisher-keys create shop-frontend              insert-only key on every local publisher
  collector publisher-keys create reporting --read           may also GET /data and /data/{id}
  collector publisher-keys create sensor-7 --publisher pub2  only on pub2
  collector publisher-keys list
  collector publisher-keys revoke shop-frontend
  collector publisher-keys create app --database-url pub1=postgres://postgres:…@pub1-db:5432/collector

Whether a key is needed is the APIs' COLLECTOR_PUBLISHER_AUTH: required (the default with
NODE_ENV=production) or optional (npm start).`,
    );

  targetOptions(
    keys
      .command('create')
      .description(
        'Create an API key and print it once. On several publishers, the same key is stored on each.',
      )
      .argument('<name>', 'who the key is for: 1 to 64 letters, digits, "_", ".", "@" or "-"')
      .option('--read', 'also allow reads: GET /data and GET /data/{id} (default: insert only)')
      .option('--scope <scopes>', 'scopes, comma-separated: insert, read (default: insert)'),
  ).action(create);

  targetOptions(
    keys
      .command('list')
      .description('List API keys: name, publisher, scopes, created, revoked (never the key).')
      .option('--json', 'print JSON'),
  ).action(list);

  targetOptions(
    keys
      .command('revoke')
      .description('Revoke an API key (on every publisher that has it, unless --publisher).')
      .argument('<name>'),
  ).action(revoke);
}
