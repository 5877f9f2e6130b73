/**
 * scripts/build.mjs --if-stale (what `npm start` and `npm run collector` run first): compiles only
 * when a source changed since the last build. Run in a scratch copy of the layout whose "tsc" only
 * records that it ran, so that the test never rewrites the dist/ other tests are using.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
let root: string;
const ran = () => path.join(root, 'tsc-ran');

async function build(...args: string[]) {
  rmSync(ran(), { force: true });
  const res = await run(process.execPath, [path.join(root, 'scripts', 'build.mjs'), ...args]);
  return { compiled: existsSync(ran()), stderr: res.stderr };
}

/** Touches a path, as an edit after the last build would (a few ms later, for coarse clocks). */
async function edit(rel: string) {
  await new Promise((resolve) => setTimeout(resolve, 20));
  const now = new Date();
  utimesSync(path.join(root, rel), now, now);
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'collector-build-'));
  mkdirSync(path.join(root, 'scripts'));
  copyFileSync(path.resolve('scripts/build.mjs'), path.join(root, 'scripts', 'build.mjs'));
  for (const dir of ['common', 'collector', 'publisher-api', 'subscriber-graphql', 'bench']) {
    mkdirSync(path.join(root, dir));
    writeFileSync(path.join(root, dir, 'a.ts'), 'export {};\n');
  }
  writeFileSync(path.join(root, 'tsconfig.json'), '{}');
  mkdirSync(path.join(root, 'node_modules', 'typescript', 'bin'), { recursive: true });
  writeFileSync(
    path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
    `require('node:fs').writeFileSync(${JSON.stringify(ran())}, process.argv.slice(2).join(' '));`,
  );
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('build once', () => {
  it('compiles on the first run, then not again until a source changes', async () => {
    expect(await build('--if-stale')).toMatchObject({ compiled: true });
    expect((await build('--if-stale')).compiled).toBe(false);
    await edit('subscriber-graphql/a.ts');
    const changed = await build('--if-stale');
    expect(changed.compiled).toBe(true);
    expect(changed.stderr).toContain('Sources changed since the last build');
    expect((await build('--if-stale')).compiled).toBe(false);
  });

  it('notices a new or deleted file, a tsconfig and the lockfile', async () => {
    await build('--if-stale');
    await new Promise((resolve) => setTimeout(resolve, 20));
    writeFileSync(path.join(root, 'common', 'new.ts'), 'export {};\n');
    expect((await build('--if-stale')).compiled).toBe(true);
    // A deleted file leaves nothing newer behind but its folder's mtime.
    await new Promise((resolve) => setTimeout(resolve, 20));
    rmSync(path.join(root, 'common', 'new.ts'));
    expect((await build('--if-stale')).compiled).toBe(true);
    await edit('tsconfig.json');
    expect((await build('--if-stale')).compiled).toBe(true);
    writeFileSync(path.join(root, 'package-lock.json'), '{}');
    await edit('package-lock.json');
    expect((await build('--if-stale')).compiled).toBe(true);
    expect((await build('--if-stale')).compiled).toBe(false);
  });

  it('always compiles without --if-stale (npm run build)', async () => {
    await build('--if-stale');
    expect((await build()).compiled).toBe(true);
  });

  it('stops with the compiler exit code when the build fails, leaving the stamp unchanged', async () => {
    await build('--if-stale');
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    writeFileSync(tsc, 'process.exit(2);');
    await edit('bench/a.ts');
    await expect(build('--if-stale')).rejects.toMatchObject({ code: 2 });
    // Still stale: the next start tries again.
    await expect(build('--if-stale')).rejects.toMatchObject({ code: 2 });
  });
});
