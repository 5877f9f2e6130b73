/**
 * Limits password guessing: after too many failed logins for one username from one address, or
 * from one address overall, further attempts are refused for a while (HTTP 429), before any
 * password hashing is spent on them. In memory, per gateway process.
 */
import { AppError } from '../../common/errors.js';

interface Window {
  failures: number;
  resetAt: number;
}

export interface ThrottleLimits {
  perUser: number;
  perAddress: number;
  windowMs: number;
}

export const DEFAULT_LIMITS: ThrottleLimits = {
  perUser: 10,
  perAddress: 100,
  windowMs: 15 * 60_000,
};

/** Bound on remembered keys, so a flood of random usernames cannot grow memory without end. */
const MAX_KEYS = 100_000;

export class LoginThrottle {
  private readonly windows = new Map<string, Window>();

  constructor(private readonly limits: ThrottleLimits = DEFAULT_LIMITS) {}

  private keys(username: string, address: string): Array<[string, number]> {
    return [
      [`u:${address}:${username}`, this.limits.perUser],
      [`a:${address}`, this.limits.perAddress],
    ];
  }

  /**
   * Admits one attempt, or throws TOO_MANY_REQUESTS if this username or address has failed too
   * often lately. The attempt counts as a failure from now on, so parallel guesses cannot all slip
   * past the check while their hashes are computed; `succeeded` takes it back.
   */
  begin(username: string, address: string, now = Date.now()): void {
    const keys = this.keys(username, address);
    for (const [key, limit] of keys) {
      const w = this.windows.get(key);
      if (w && w.resetAt <= now) this.windows.delete(key);
      else if (w && w.failures >= limit) {
        const seconds = Math.ceil((w.resetAt - now) / 1000);
        throw new AppError(
          'TOO_MANY_REQUESTS',
          `Too many failed logins; try again in ${seconds} s.`,
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

  succeeded(username: string, address: string): void {
    this.windows.delete(`u:${address}:${username}`);
    this.uncount(`a:${address}`);
  }

  /**
   * Takes back an attempt that failed for a reason other than a wrong password (the database was
   * down, the hashing queue was full): it says nothing about the password, so it must not lock
   * anyone out once the outage ends.
   */
  undecided(username: string, address: string): void {
    this.uncount(`u:${address}:${username}`);
    this.uncount(`a:${address}`);
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
