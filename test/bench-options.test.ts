/**
 * The benchmarks' command lines (bench/options.ts): `--help` lists the options, a mistyped option
 * or a bad value stops the bench at once with exit code 2 instead of being ignored by a run that
 * takes minutes. The compiled benches run as real processes (they exit before booting anything).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { readOptions } from '../bench/options.js';
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

describe('readOptions', () => {
  const spec = {
    rounds: { description: 'rounds', default: 2, min: 1, env: 'TEST_BENCH_ROUNDS' },
    singleOnly: { description: 'switch', default: 0, flag: true, env: 'TEST_BENCH_SINGLE' },
  };
  afterEach(() => {
    delete process.env.TEST_BENCH_ROUNDS;
    delete process.env.TEST_BENCH_SINGLE;
  });

  it('reads values, switches and their defaults', () => {
    expect(readOptions('t', 's', spec, [])).toEqual({ rounds: 2, singleOnly: 0 });
    expect(readOptions('t', 's', spec, ['--single-only', '--rounds', '4'])).toEqual({
      rounds: 4,
      singleOnly: 1,
    });
    // A switch takes no value: what follows it is the next option.
    expect(readOptions('t', 's', spec, ['--rounds=3', '--single-only'])).toEqual({
      rounds: 3,
      singleOnly: 1,
    });
  });

  it('falls back to the environment, and the command line wins', () => {
    process.env.TEST_BENCH_ROUNDS = '5';
    process.env.TEST_BENCH_SINGLE = '1';
    expect(readOptions('t', 's', spec, [])).toEqual({ rounds: 5, singleOnly: 1 });
    expect(readOptions('t', 's', spec, ['--rounds', '7'])).toEqual({ rounds: 7, singleOnly: 1 });
    process.env.TEST_BENCH_SINGLE = '0';
    expect(readOptions('t', 's', spec, []).singleOnly).toBe(0);
  });
});
