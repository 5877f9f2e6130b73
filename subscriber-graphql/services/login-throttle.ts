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

  /** Throws TOO_MANY_REQUESTS if this username or address has failed too often lately. */
  check(username: string, address: string, now = Date.now()): void {
    for (const [key, limit] of this.keys(username, address)) {
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
  }

  failed(username: string, address: string, now = Date.now()): void {
    if (this.windows.size > MAX_KEYS) {
      for (const [key, w] of this.windows) if (w.resetAt <= now) this.windows.delete(key);
      if (this.windows.size > MAX_KEYS) this.windows.clear();
    }
    for (const [key] of this.keys(username, address)) {
      const w = this.windows.get(key);
      if (w && w.resetAt > now) w.failures += 1;
      else this.windows.set(key, { failures: 1, resetAt: now + this.limits.windowMs });
    }
  }

  succeeded(username: string, address: string): void {
    this.windows.delete(`u:${address}:${username}`);
  }
}
