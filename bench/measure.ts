/**
 * What the benchmarks read about the processes they measure, beside their rates: CPU time from
 * /proc (Linux; 0 elsewhere), and when the subscriber has caught up with a publisher.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

/** The same small document in every ingest bench: what a sensor or a form might send. */
export const DATUM = '{"sensor": "s-17", "value": 21.5, "ok": true, "tags": ["a", "b"]}';

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/**
 * The median of the rounds' ratios of two sides timed next to each other, and their range, as
 * "1.02x (0.95–1.10)": the rounds are paired, so a drift in the machine's speed hits both alike.
 */
export function pairedRatio<T>(ours: T[], base: T[], f: (r: T) => number): string {
  const ratios = ours.map((o, i) => f(o) / f(base[i] as T));
  return `${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;
}

/**
 * CPU time a process has used, ms, from /proc/<pid>/stat: its own and, with `children`, that of
 * its children it has waited for (PostgreSQL's ended backends; pgbench and psql for this
 * process). 0 where /proc cannot tell (not Linux, process gone).
 */
export function cpuMs(pid: number | undefined, children = false): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised name: state, ppid, …; utime, stime, cutime, cstime are the
    // 14th to 17th fields of the line, in clock ticks (USER_HZ, 100 on Linux).
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    const ticks = (f[11] ?? 0) + (f[12] ?? 0) + (children ? (f[13] ?? 0) + (f[14] ?? 0) : 0);
    return ticks * 10;
  } catch {
    return 0;
  }
}

/** The processes whose parent is `pid`: a postmaster's backends and workers. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid)
        out.push(Number(entry));
    } catch {
      // ended meanwhile: its time is in the parent's children's time
    }
  }
  return out;
}

/** CPU ms of a postmaster and all its children, running or ended. */
export function postgresCpuMs(postmaster: number | undefined): number {
  if (postmaster === undefined) return 0;
  let ms = cpuMs(postmaster, true);
  for (const child of childrenOf(postmaster)) ms += cpuMs(child, true);
  return ms;
}

/**
 * Waits (2 s at most) until none of a postmaster's children is missing from `earlier`. A client
 * that connected for a measurement only (psql, pgbench) leaves backends that end after it has,
 * and one that the postmaster reaps between the reading of the postmaster's children's time and
 * the listing of its children is in neither: seen losing all of a COPY's backend CPU. So the
 * backends opened during a measurement are waited for before its CPU is read.
 */
export async function backendsEnded(postmaster: number | undefined, earlier: Set<number>) {
  for (let i = 0; i < 40 && postmaster !== undefined; i++) {
    if (childrenOf(postmaster).every((child) => earlier.has(child))) return;
    await sleep(50);
  }
}

/**
 * Waits until the subscriber has confirmed every change of the publisher (its slot's
 * confirmed_flush_lsn has reached the publisher's current WAL position), and returns how long
 * that took, in seconds. Run after each measurement: a side that outruns replication leaves a
 * backlog that the apply worker works off afterwards, on the same 2 cores, and without this it
 * would land in the next side's measurement instead of its own.
 */
export async function settle(adminUrl: string, timeoutMs = 300_000): Promise<number> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  const began = performance.now();
  try {
    for (;;) {
      const { rows } = await c.query<{ behind: string }>(
        `SELECT coalesce(max(pg_current_wal_lsn() - confirmed_flush_lsn), 0) AS behind
           FROM pg_replication_slots WHERE slot_type = 'logical'`,
      );
      if (Number(rows[0]?.behind ?? 0) <= 0) return (performance.now() - began) / 1000;
      if (performance.now() - began > timeoutMs) {
        throw new Error(
          `the subscriber is still ${rows[0]?.behind} bytes behind after ${timeoutMs / 1000} s`,
        );
      }
      await sleep(50);
    }
  } finally {
    await c.end();
  }
}
