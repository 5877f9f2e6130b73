/**
 * Command-line options and the machine description shared by the benchmarks. Each bench prints
 * the machine it ran on above its table, so a pasted table says where it came from.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { type Stats, stats } from './lib.js';

export interface NumberOption {
  description: string;
  default: number;
  /** Also read from this environment variable when the option is not given. */
  env?: string;
  min?: number;
  max?: number;
  /** Whole numbers only (the default); false allows fractions. */
  integer?: boolean;
  /**
   * A switch: `--name` takes no value and reads as 1 (the default is 0); its environment
   * variable turns it on with "1".
   */
  flag?: boolean;
}

/**
 * Reads `--name value` (or `--name=value`) for each option in `spec`. `--help` prints the usage
 * and exits 0; an unknown option or a bad value prints what is wrong and exits 2.
 */
export function readOptions<K extends string>(
  command: string,
  summary: string,
  spec: Record<K, NumberOption>,
  argv = process.argv.slice(2),
): Record<K, number> {
  const flag = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const usage = () => {
    const lines = (Object.entries(spec) as Array<[string, NumberOption]>).map(([key, o]) =>
      o.flag
        ? `  --${flag(key).padEnd(18)} ${o.description}${o.env ? ` (or ${o.env}=1)` : ''}`
        : `  --${flag(key).padEnd(18)} ${o.description} (default ${o.default}${o.env ? `, or ${o.env}` : ''})`,
    );
    return `Usage: npm run ${command} -- [options]\n\n${summary}\n\nOptions:\n${lines.join('\n')}\n  --help               this text`;
  };
  const fail = (message: string): never => {
    process.stderr.write(
      `${command}: ${message}\nRun npm run ${command} -- --help for the options.\n`,
    );
    process.exit(2);
  };
  const switches = new Set(
    (Object.entries(spec) as Array<[string, NumberOption]>)
      .filter(([, o]) => o.flag)
      .map(([k]) => flag(k)),
  );
  const given = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${usage()}\n`);
      process.exit(0);
    }
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(arg);
    if (!m) fail(`unexpected argument "${arg}"`);
    const [, name, inline] = m as RegExpExecArray;
    if (switches.has(name as string)) {
      if (inline !== undefined) fail(`--${name} takes no value`);
      given.set(name as string, '1');
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) fail(`--${name} needs a value`);
    given.set(name as string, value as string);
  }
  const known = new Set(Object.keys(spec).map(flag));
  for (const name of given.keys()) if (!known.has(name)) fail(`unknown option --${name}`);
  const out = {} as Record<K, number>;
  for (const [key, o] of Object.entries(spec) as Array<[K, NumberOption]>) {
    const raw = given.get(flag(key)) ?? (o.env ? process.env[o.env] : undefined);
    if (o.flag) {
      out[key] = raw === '1' ? 1 : 0;
      continue;
    }
    if (raw === undefined || raw === '') {
      out[key] = o.default;
      continue;
    }
    const n = Number(raw.replaceAll('_', '').replaceAll(',', ''));
    const integer = o.integer ?? true;
    const min = o.min ?? 0;
    if (
      !Number.isFinite(n) ||
      (integer && !Number.isInteger(n)) ||
      n < min ||
      n > (o.max ?? Infinity)
    ) {
      fail(
        `--${flag(key)} must be ${integer ? 'a whole number' : 'a number'} from ${min}` +
          `${o.max === undefined ? ' up' : ` to ${o.max}`}, got "${raw}"`,
      );
    }
    out[key] = n;
  }
  return out;
}

/** "2 × AMD EPYC, 23 GiB RAM, Linux 6.1, Node v20.20.2, load average 2.4" */
export function machine(): string {
  let cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) cpu = m[1].trim();
  } catch {
    // not Linux: os.cpus() it is
  }
  const gib = (os.totalmem() / 1024 ** 3).toFixed(0);
  return (
    `${os.availableParallelism()} × ${cpu}, ${gib} GiB RAM, ${os.type()} ${os.release()}, ` +
    `Node ${process.version}, load average ${os.loadavg()[0]?.toFixed(1)}`
  );
}

/** A number with thousands separators: 12,345. */
export const grouped = (n: number) => Math.round(n).toLocaleString('en-US');

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** lib's stats, with the largest sample. */
export interface Summary extends Stats {
  max: number;
}

export function summary(samples: number[]): Summary {
  return {
    ...stats(samples),
    max: samples.length ? samples.reduce((a, b) => Math.max(a, b)) : Number.NaN,
  };
}
