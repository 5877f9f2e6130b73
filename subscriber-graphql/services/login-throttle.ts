/**
 * Login fairness and password-guessing limits, in memory, per gateway process.
 *
 * - Failures: too many failed logins for one ACCOUNT (from any address), or from one address
 *   overall, and further attempts are refused for a while (HTTP 429 with Retry-After) before any
 *   hashing is spent on them. An address that logged in to the account successfully before is
 *   exempt from the account's limit (but not from its own per-address and per-account-and-address
 *   limits): guessing from elsewhere slows down, the real user still gets in.
 * - Hashing: scrypt is slow on purpose, and only CONCURRENT_HASHES run at once. Each client
 *   address has its own queue, served round-robin, and may hold at most HASHES_PER_ADDRESS
 *   (running plus waiting): one address flooding logins gets 429s, everyone else waits only for
 *   their turn.
 *
 * "Address" is the client's address as Fastify's `request.ip` reports it: behind a reverse proxy,
 * set COLLECTOR_TRUSTED_PROXIES, or every client looks like the proxy.
 */
import { AppError } from '../../common/errors.js';

interface Window {
  failures: number;
  resetAt: number;
}

export interface ThrottleLimits {
  /** Failures per account, from all addresses together, per window. */
  perAccount: number;
  /** Failures per account from one address, per window (applies to known addresses too). */
  perAccountAndAddress: number;
  /** Failures per address, all accounts together, per window. */
  perAddress: number;
  windowMs: number;
  /** How long a successful login exempts its address from the account's limit. */
  knownAddressMs: number;
  /** scrypt hashes running at once (it runs on libuv's small thread pool). */
  concurrentHashes: number;
  /** Logins one address may have hashing or waiting to hash at once. */
  hashesPerAddress: number;
  /** Logins waiting to hash, all addresses together: a last bound on memory. */
  maxWaiting: number;
}

export const DEFAULT_LIMITS: ThrottleLimits = {
  perAccount: 20,
  perAccountAndAddress: 10,
  perAddress: 100,
  windowMs: 5 * 60_000,
  knownAddressMs: 30 * 24 * 3600_000,
  concurrentHashes: 2,
  hashesPerAddress: 4,
  maxWaiting: 1000,
};

/** Bound on remembered keys, so a flood of random usernames cannot grow memory without end. */
const MAX_KEYS = 100_000;

interface AddressQueue {
  running: number;
  waiting: Array<() => void>;
}

export class LoginThrottle {
  private readonly windows = new Map<string, Window>();
  /** `account\naddress` → until when that address counts as the account's own. */
  private readonly known = new Map<string, number>();
  private readonly queues = new Map<string, AddressQueue>();
  /** Addresses with someone waiting, in the order they are served. */
  private readonly turns: string[] = [];
  private running = 0;
  private waitingTotal = 0;

  constructor(private readonly limits: ThrottleLimits = DEFAULT_LIMITS) {}

  private keys(username: string, address: string, now: number): Array<[string, number]> {
    const keys: Array<[string, number]> = [
      [`ua:${address}\n${username}`, this.limits.perAccountAndAddress],
      [`a:${address}`, this.limits.perAddress],
    ];
    const knownUntil = this.known.get(`${username}\n${address}`);
    if (knownUntil === undefined || knownUntil <= now) {
      keys.push([`u:${username}`, this.limits.perAccount]);
    }
    return keys;
  }

  /**
   * Admits one attempt, or throws TOO_MANY_REQUESTS if this account or address has failed too
   * often lately. The attempt counts as a failure from now on, so parallel guesses cannot all slip
   * past the check while their hashes are computed; `succeeded` takes it back.
   */
  begin(username: string, address: string, now = Date.now()): void {
    const keys = this.keys(username, address, now);
    for (const [key, limit] of keys) {
      const w = this.windows.get(key);
      if (w && w.resetAt <= now) this.windows.delete(key);
      else if (w && w.failures >= limit) {
        const seconds = Math.max(1, Math.ceil((w.resetAt - now) / 1000));
        const whose = key.startsWith('a:') ? 'from your address' : 'for this account';
        throw new AppError(
          'TOO_MANY_REQUESTS',
          `Too many failed logins ${whose}; try again in ${seconds} s.`,
          seconds,
        );
      }
    }
    this.evictIfFull(now);
    for (const [key] of keys) {
      const w = this.windows.get(key);
      if (w) w.failures += 1;
      else this.windows.set(key, { failures: 1, resetAt: now + this.limits.windowMs });
    }
  }

  succeeded(username: string, address: string, now = Date.now()): void {
    this.windows.delete(`ua:${address}\n${username}`);
    this.uncount(`a:${address}`);
    this.uncount(`u:${username}`);
    const key = `${username}\n${address}`;
    this.known.delete(key);
    this.known.set(key, now + this.limits.knownAddressMs);
    if (this.known.size > MAX_KEYS) {
      const oldest = this.known.keys().next().value;
      if (oldest !== undefined) this.known.delete(oldest);
    }
  }

  /**
   * Takes back an attempt that failed for a reason other than a wrong password (the database was
   * down, the hashing queue was full): it says nothing about the password, so it must not lock
   * anyone out once the outage ends.
   */
  undecided(username: string, address: string): void {
    this.uncount(`ua:${address}\n${username}`);
    this.uncount(`a:${address}`);
    this.uncount(`u:${username}`);
  }

  /**
   * Runs `work` (a password hash) when this address's turn comes: at most `concurrentHashes` at
   * once overall, addresses served round-robin. TOO_MANY_REQUESTS at once if this address already
   * has `hashesPerAddress` logins in progress.
   */
  async hashing<T>(address: string, work: () => Promise<T>): Promise<T> {
    let queue = this.queues.get(address);
    if (!queue) {
      queue = { running: 0, waiting: [] };
      this.queues.set(address, queue);
    }
    if (this.running < this.limits.concurrentHashes) {
      this.running += 1;
      queue.running += 1;
    } else {
      if (
        queue.running + queue.waiting.length >= this.limits.hashesPerAddress ||
        this.waitingTotal >= this.limits.maxWaiting
      ) {
        this.dropIfIdle(address, queue);
        throw new AppError(
          'TOO_MANY_REQUESTS',
          'Too many logins at once from your address; try again in a moment.',
          1,
        );
      }
      const q = queue;
      // `next` counts this login as running before waking it, so no newcomer takes its slot.
      await new Promise<void>((go) => {
        if (q.waiting.length === 0) this.turns.push(address);
        q.waiting.push(go);
        this.waitingTotal += 1;
      });
    }
    try {
      return await work();
    } finally {
      this.running -= 1;
      queue.running -= 1;
      this.dropIfIdle(address, queue);
      this.next();
    }
  }

  /** Hands a free slot to the next address in turn. */
  private next(): void {
    if (this.running >= this.limits.concurrentHashes) return;
    const address = this.turns.shift();
    if (address === undefined) return;
    const queue = this.queues.get(address);
    const go = queue?.waiting.shift();
    if (!queue || !go) return;
    this.waitingTotal -= 1;
    // Still someone waiting from this address: back of the line.
    if (queue.waiting.length > 0) this.turns.push(address);
    this.running += 1;
    queue.running += 1;
    go();
  }

  private dropIfIdle(address: string, queue: AddressQueue): void {
    if (queue.running === 0 && queue.waiting.length === 0) this.queues.delete(address);
  }

  private uncount(key: string): void {
    const w = this.windows.get(key);
    if (w && w.failures > 0) w.failures -= 1;
  }

  /** Keeps memory bounded: drop expired windows, then the oldest ones (Map keeps insertion order). */
  private evictIfFull(now: number): void {
    if (this.windows.size < MAX_KEYS) return;
    for (const [key, w] of this.windows) if (w.resetAt <= now) this.windows.delete(key);
    for (const key of this.windows.keys()) {
      if (this.windows.size < MAX_KEYS * 0.9) break;
      this.windows.delete(key);
    }
  }
}
