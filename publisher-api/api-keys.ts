/**
 * Publisher API keys: the one place that knows the api_key table (sql/publisher/010_api_keys.sql).
 *
 * A key is `cpk_` and 32 random bytes (base64url), made here and shown once by the CLI; the
 * database keeps only its SHA-256. A plain hash is enough because the key is random (256 bits),
 * not a password: there is no dictionary to try, so scrypt would only slow the hot path.
 *
 * The API checks keys through `ApiKeyVerifier`, which remembers each verified (or refused) hash
 * in memory for a few seconds: POST /data must not pay a database round trip per request. The
 * price is a revocation delay of at most that TTL (COLLECTOR_PUBLISHER_KEY_CACHE_TTL, 5 s).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { badInput } from '../common/errors.js';
import type { PublisherDB } from './db.js';

export const SCOPES = ['insert', 'read'] as const;
export type Scope = (typeof SCOPES)[number];

export const KEY_PREFIX = 'cpk_';
/** `cpk_` and 43 base64url characters (32 bytes): anything else is refused without a lookup. */
const KEY_RE = /^cpk_[A-Za-z0-9_-]{43}$/;
/** The same rule as the table's CHECK: the name goes into logs and `list` output. */
export const KEY_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;

export function generateApiKey(): string {
  return `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function isWellFormedKey(key: string): boolean {
  return KEY_RE.test(key);
}

export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** `insert`, `read`, or both, comma-separated; each at most once. */
export function parseScopes(text: string): Scope[] {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw badInput(`no scope given: use ${SCOPES.join(', ')}`);
  for (const item of items) {
    if (!(SCOPES as readonly string[]).includes(item)) {
      throw badInput(`unknown scope "${item}": use ${SCOPES.join(' and/or ')}`);
    }
  }
  return SCOPES.filter((s) => items.includes(s));
}

export function checkKeyName(name: string): void {
  if (!KEY_NAME_RE.test(name)) {
    throw badInput(
      `Key name "${name}" is invalid: 1 to 64 letters, digits, "_", ".", "@" or "-", starting with a letter or digit`,
    );
  }
}

// ---- administration (the CLI, over an admin connection) ----

export interface ApiKeyInfo {
  name: string;
  scopes: Scope[];
  createdAt: Date;
  revokedAt: Date | null;
}

/** Stores a key's hash under `name`; a name already taken (even by a revoked key) is refused. */
export async function storeApiKey(
  db: Kysely<PublisherDB>,
  name: string,
  keyHash: Buffer,
  scopes: Scope[],
): Promise<void> {
  checkKeyName(name);
  const inserted = await db
    .insertInto('api_key')
    .values({ name, key_hash: keyHash, scopes, revoked_at: null })
    .onConflict((oc) => oc.column('name').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (!inserted) {
    throw badInput(
      `A key named "${name}" already exists (names are never reused, even after revoke): pick another name`,
    );
  }
}

export async function keyNameTaken(db: Kysely<PublisherDB>, name: string): Promise<boolean> {
  const row = await db
    .selectFrom('api_key')
    .select('id')
    .where('name', '=', name)
    .executeTakeFirst();
  return row !== undefined;
}

/** Undoes `storeApiKey` when the same key could not be stored on every publisher. */
export async function deleteApiKey(db: Kysely<PublisherDB>, name: string): Promise<void> {
  await db.deleteFrom('api_key').where('name', '=', name).execute();
}

/** Every key, oldest first: names, scopes and dates, never the hash. */
export async function listApiKeys(db: Kysely<PublisherDB>): Promise<ApiKeyInfo[]> {
  const rows = await db
    .selectFrom('api_key')
    .select(['name', 'scopes', 'created_at', 'revoked_at'])
    .orderBy('created_at')
    .orderBy('name')
    .execute();
  return rows.map((r) => ({
    name: r.name,
    scopes: r.scopes as Scope[],
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
  }));
}

/** Marks the key revoked; says whether it was found and whether it was already revoked. */
export async function revokeApiKey(
  db: Kysely<PublisherDB>,
  name: string,
): Promise<'revoked' | 'already revoked' | 'unknown'> {
  const row = await db
    .updateTable('api_key')
    .set({ revoked_at: new Date() })
    .where('name', '=', name)
    .where('revoked_at', 'is', null)
    .returning('id')
    .executeTakeFirst();
  if (row) return 'revoked';
  return (await keyNameTaken(db, name)) ? 'already revoked' : 'unknown';
}

// ---- verification (the API's hot path) ----

interface CacheEntry {
  /** undefined: unknown or revoked. */
  scopes: readonly Scope[] | undefined;
  expiresAt: number;
}

/** Past this many remembered hashes, expired ones are dropped (and, if that is not enough, all). */
const MAX_CACHED = 10_000;

export class ApiKeyVerifier {
  private readonly cache = new Map<string, CacheEntry>();
  /** Lookups under way, so that a burst of requests with a new key costs one query. */
  private readonly pending = new Map<string, Promise<readonly Scope[] | undefined>>();

  constructor(
    private readonly db: Kysely<PublisherDB>,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The key's scopes if it is known and not revoked, else undefined: from memory when checked
   * less than the TTL ago (then synchronously, no promise), else from the database.
   */
  verify(key: string): readonly Scope[] | undefined | Promise<readonly Scope[] | undefined> {
    if (!isWellFormedKey(key)) return undefined;
    const id = hashApiKey(key).toString('base64');
    const hit = this.cache.get(id);
    if (hit && hit.expiresAt > this.now()) return hit.scopes;
    const running = this.pending.get(id);
    if (running) return running;
    const lookup = this.lookup(id).finally(() => this.pending.delete(id));
    this.pending.set(id, lookup);
    return lookup;
  }

  private async lookup(id: string): Promise<readonly Scope[] | undefined> {
    const row = await this.db
      .selectFrom('api_key')
      .select(['scopes', 'revoked_at'])
      .where('key_hash', '=', Buffer.from(id, 'base64'))
      .executeTakeFirst();
    const scopes = row && row.revoked_at === null ? (row.scopes as Scope[]) : undefined;
    if (this.ttlMs > 0) {
      if (this.cache.size >= MAX_CACHED) this.prune();
      this.cache.set(id, { scopes, expiresAt: this.now() + this.ttlMs });
    }
    return scopes;
  }

  private prune(): void {
    const now = this.now();
    for (const [id, entry] of this.cache) if (entry.expiresAt <= now) this.cache.delete(id);
    // Many distinct keys within one TTL (someone trying random keys): start over.
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
  }
}
