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
   * A switch: `--name` takes no value and reads as 1 (else its default, normally 0); its
   * environment variable says 1 or 0.
   */
  flag?: boolean;
}

/** The options of a bench that times two sides in alternating rounds: seconds per case, rounds. */
export function alternatingOptions(defaults: { duration: number; rounds: number }) {
  return {
    duration: {
      description: 'seconds per measured case',
      default: defaults.duration,
      min: 1,
      env: 'BENCH_DURATION',
    },
    rounds: {
      description: 'rounds, alternating which side goes first',
      default: defaults.rounds,
      min: 1,
      env: 'BENCH_ROUNDS',
    },
  } satisfies Record<string, NumberOption>;
}

/** What is wrong with a command line (`parseOptions`); `readOptions` prints it and exits 2. */
export class OptionsError extends Error {}

/** Options as flags: `copyRows` is `--copy-rows`. */
const flagOf = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The `--help` text of a bench. */
export function optionsUsage(command: string, summary: string, spec: Record<string, NumberOption>) {
  const lines = Object.entries(spec).map(([key, o]) =>
    o.flag
      ? `  --${flagOf(key).padEnd(18)} ${o.description}${o.env ? ` (or ${o.env}=1)` : ''}`
      : `  --${flagOf(key).padEnd(18)} ${o.description} (default ${o.default}${o.env ? `, or ${o.env}` : ''})`,
  );
  return `Usage: npm run ${command} -- [options]\n\n${summary}\n\nOptions:\n${lines.join('\n')}\n  --help               this text`;
}

/**
 * Reads `--name value` (or `--name=value`) for each option in `spec`, and `--name` alone for a
 * switch, else its environment variable, else its default. A bare `--` is skipped (npm passes on
 * the second one of `npm run x -- --a 1 -- --b 2`). Throws `OptionsError` saying what is wrong:
 * an unknown option, a missing or bad value, a value given to a switch.
 */
export function parseOptions<K extends string>(
  spec: Record<K, NumberOption>,
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Record<K, number> {
  const entries = Object.entries(spec) as Array<[K, NumberOption]>;
  const switches = new Set(entries.filter(([, o]) => o.flag).map(([k]) => flagOf(k)));
  const given = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') continue;
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(arg);
    if (!m) throw new OptionsError(`unexpected argument "${arg}"`);
    const [, name = '', inline] = m;
    if (switches.has(name)) {
      if (inline !== undefined) throw new OptionsError(`--${name} takes no value`);
      given.set(name, '1');
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new OptionsError(`--${name} needs a value`);
    given.set(name, value);
  }
  const known = new Set(entries.map(([k]) => flagOf(k)));
  for (const name of given.keys()) {
    if (!known.has(name)) throw new OptionsError(`unknown option --${name}`);
  }
  const out = {} as Record<K, number>;
  for (const [key, o] of entries) {
    const flag = flagOf(key);
    const fromArgs = given.get(flag);
    const raw = fromArgs ?? (o.env ? env[o.env] : undefined);
    // A bad value names where it came from: the option, or its environment variable.
    const source = fromArgs !== undefined || !o.env ? `--${flag}` : `${o.env} (--${flag})`;
    if (raw === undefined || raw === '') {
      out[key] = o.default;
      continue;
    }
    if (o.flag) {
      if (raw !== '0' && raw !== '1')
        throw new OptionsError(`${source} must be 1 or 0, got "${raw}"`);
      out[key] = Number(raw);
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
      throw new OptionsError(
        `${source} must be ${integer ? 'a whole number' : 'a number'} from ${min}` +
          `${o.max === undefined ? ' up' : ` to ${o.max}`}, got "${raw}"`,
      );
    }
    out[key] = n;
  }
  return out;
}

/**
 * `parseOptions` for a bench's own command line: `--help` prints the usage and exits 0; an
 * unknown option or a bad value prints what is wrong and exits 2, before anything is booted.
 */
export function readOptions<K extends string>(
  command: string,
  summary: string,
  spec: Record<K, NumberOption>,
  argv = process.argv.slice(2),
): Record<K, number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${optionsUsage(command, summary, spec)}\n`);
    process.exit(0);
  }
  try {
    return parseOptions(spec, argv);
  } catch (e) {
    if (!(e instanceof OptionsError)) throw e;
    process.stderr.write(
      `${command}: ${e.message}\nRun npm run ${command} -- --help for the options.\n`,
    );
    process.exit(2);
  }
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
