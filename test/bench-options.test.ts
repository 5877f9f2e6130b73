/**
 * The benchmarks' command lines (bench/options.ts): `--help` lists the options, a mistyped option
 * or a bad value stops the bench at once with exit code 2 instead of being ignored by a run that
 * takes minutes. The compiled benches run as real processes (they exit before booting anything).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { OptionsError, parseOptions } from '../bench/options.js';
import { projectRoot } from '../common/paths.js';

const run = promisify(execFile);

async function bench(
  name: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = path.join(projectRoot(), 'dist', 'bench', `${name}.js`);
  try {
    const { stdout, stderr } = await run(process.execPath, [script, ...args], { timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

const BENCHES: Array<[file: string, command: string, option: string]> = [
  ['ingest', 'bench:ingest', '--publisher-alone'],
  ['copy', 'bench:copy', '--connections'],
  ['graphql', 'bench:graphql', '--serve'],
  ['query', 'bench:query', '--samples'],
  ['replication-latency', 'bench:replication', '--samples'],
  ['latency', 'bench:latency', '--rate'],
  ['scale', 'bench:scale', '--publishers'],
  ['ids', 'bench:ids', '--rows'],
];

describe('benchmark options', () => {
  it.each(BENCHES)('%s: --help lists the options and exits 0', async (file, command, option) => {
    const res = await bench(file, ['--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`Usage: npm run ${command} -- [options]`);
    expect(res.stdout).toContain(option);
  });

  it.each(BENCHES)('%s: an unknown option stops it with exit code 2', async (file, command) => {
    const res = await bench(file, ['--roundz', '3']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`${command}: unknown option --roundz`);
    expect(res.stderr).toContain(`npm run ${command} -- --help`);
  });

  it('bench:ingest refuses a bad number and a value given to a switch', async () => {
    const rounds = await bench('ingest', ['--rounds', 'four']);
    expect(rounds.code).toBe(2);
    expect(rounds.stderr).toContain('--rounds must be a whole number from 1 up, got "four"');
    const alone = await bench('ingest', ['--publisher-alone=yes']);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('--publisher-alone takes no value');
  });
});

describe('parseOptions', () => {
  const spec = {
    rounds: { description: 'rounds', default: 2, min: 1, env: 'TEST_BENCH_ROUNDS' },
    singleOnly: { description: 'switch', default: 0, flag: true, env: 'TEST_BENCH_SINGLE' },
  };
  const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseOptions(spec, argv, env);

  it('reads values, switches and their defaults', () => {
    expect(parse([])).toEqual({ rounds: 2, singleOnly: 0 });
    expect(parse(['--single-only', '--rounds', '4'])).toEqual({ rounds: 4, singleOnly: 1 });
    expect(parse(['--rounds=3', '--single-only'])).toEqual({ rounds: 3, singleOnly: 1 });
    // npm passes on the second "--" of `npm run x -- --a 1 -- --b 2`.
    expect(parse(['--rounds', '5', '--', '--single-only'])).toEqual({ rounds: 5, singleOnly: 1 });
  });

  it('takes no value after a switch: what follows it is the next argument', () => {
    expect(() => parse(['--single-only', '4'])).toThrow('unexpected argument "4"');
    expect(() => parse(['--single-only=1'])).toThrow('--single-only takes no value');
  });

  it('falls back to the environment, and the command line wins', () => {
    const env = { TEST_BENCH_ROUNDS: '5', TEST_BENCH_SINGLE: '1' };
    expect(parse([], env)).toEqual({ rounds: 5, singleOnly: 1 });
    expect(parse(['--rounds', '7'], env)).toEqual({ rounds: 7, singleOnly: 1 });
    expect(parse([], { TEST_BENCH_SINGLE: '0' }).singleOnly).toBe(0);
  });

  it('refuses bad values, naming the option or the variable they came from', () => {
    expect(() => parse(['--rounds', '0'])).toThrow(
      '--rounds must be a whole number from 1 up, got "0"',
    );
    expect(() => parse(['--rounds'])).toThrow('--rounds needs a value');
    expect(() => parse(['--roundz', '2'])).toThrow('unknown option --roundz');
    expect(() => parse([], { TEST_BENCH_ROUNDS: 'four' })).toThrow(
      'TEST_BENCH_ROUNDS (--rounds) must be a whole number from 1 up, got "four"',
    );
    expect(() => parse([], { TEST_BENCH_SINGLE: 'true' })).toThrow(
      'TEST_BENCH_SINGLE (--single-only) must be 1 or 0, got "true"',
    );
    expect(() => parse(['rounds'])).toThrow(OptionsError);
  });
});
