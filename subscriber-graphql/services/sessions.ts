/**
 * Whether a token's session is still current: its user exists, is not disabled, and still has the
 * session version the token was issued with. Checked on every authenticated request, so it must be
 * cheap: one primary-key lookup per user at most every SESSION_CACHE_MS, shared by all the
 * requests of that user meanwhile (concurrent misses wait for the same lookup).
 *
 * The staleness bound: a change made elsewhere (the CLI, another gateway process) takes effect
 * here within SESSION_CACHE_MS. A `logout` through this process takes effect at once.
 */
import { TOKEN_NO_LONGER_VALID, unauthenticated } from '../../common/errors.js';
import type { AuthUser, TokenClaims } from '../auth.js';
import type { Role, SubscriberDb } from '../db.js';

/** How long a user's state is trusted without asking the database again. */
export const SESSION_CACHE_MS = 2000;

/** Users remembered at once; past it the oldest entry goes (a cheap bound, not a strict LRU). */
const MAX_ENTRIES = 10_000;

interface UserState {
  username: string;
  role: Role;
  sessionVersion: number;
  disabled: boolean;
}

interface Entry {
  at: number;
  state: Promise<UserState | undefined>;
}

export class SessionCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly db: SubscriberDb,
    private readonly ttlMs = SESSION_CACHE_MS,
  ) {}

  state(userId: string): Promise<UserState | undefined> {
    const now = Date.now();
    const hit = this.entries.get(userId);
    if (hit && now - hit.at < this.ttlMs) return hit.state;
    const entry: Entry = { at: now, state: this.load(userId) };
    this.entries.delete(userId);
    this.entries.set(userId, entry);
    if (this.entries.size > MAX_ENTRIES) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    // A failed lookup (database down) is not remembered: the next request asks again.
    entry.state.catch(() => {
      if (this.entries.get(userId) === entry) this.entries.delete(userId);
    });
    return entry.state;
  }

  forget(userId: string): void {
    this.entries.delete(userId);
  }

  private async load(userId: string): Promise<UserState | undefined> {
    return this.db
      .selectFrom('app_user')
      .select(['username', 'role', 'session_version as sessionVersion', 'disabled'])
      .where('id', '=', userId)
      .executeTakeFirst();
  }
}

// One cache per database handle: each gateway (and each test's own gateway) has its own.
const caches = new WeakMap<SubscriberDb, SessionCache>();

export function sessionCache(db: SubscriberDb): SessionCache {
  let cache = caches.get(db);
  if (!cache) {
    cache = new SessionCache(db);
    caches.set(db, cache);
  }
  return cache;
}

/** The token's user as the database has them now, or UNAUTHENTICATED if the session ended. */
export async function sessionUser(db: SubscriberDb, claims: TokenClaims): Promise<AuthUser> {
  const cache = sessionCache(db);
  let state = await cache.state(claims.id);
  // A token newer than what is cached proves the cache stale (a login after a password change
  // or `user enable` made elsewhere): ask again, rather than refuse a fresh token for 2 s.
  if (state && claims.sessionVersion > state.sessionVersion) {
    cache.forget(claims.id);
    state = await cache.state(claims.id);
  }
  if (!state || state.disabled || state.sessionVersion !== claims.sessionVersion) {
    throw unauthenticated(TOKEN_NO_LONGER_VALID);
  }
  return { id: claims.id, username: state.username, role: state.role };
}

/**
 * Ends every session of a user: each token issued so far is refused from now on (at once in this
 * process, within SESSION_CACHE_MS in others).
 */
export async function endSessions(db: SubscriberDb, userId: string): Promise<void> {
  await db
    .updateTable('app_user')
    .set((eb) => ({ session_version: eb('session_version', '+', 1) }))
    .where('id', '=', userId)
    .execute();
  sessionCache(db).forget(userId);
}
