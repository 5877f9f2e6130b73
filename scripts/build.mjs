#!/usr/bin/env node
/**
 * `npm run build`: compiles dist/ with tsc. With `--if-stale` (how `npm start`, `npm run
 * collector` and the benches call it), only when a source changed since the last build, so that a
 * warm checkout starts at once (tsc costs 2–6 s even with nothing to do). "Changed" means: a file
 * or folder under the compiled folders, a tsconfig, or package-lock (new type definitions) is
 * newer than the stamp written by the last successful build. A folder's mtime moves when a file in
 * it is added, removed or renamed, which catches deletions.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stamp = join(root, 'dist', '.build-stamp');
const folders = ['common', 'collector', 'publisher-api', 'subscriber-graphql', 'bench'];
const files = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'];

function newest(path) {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  let latest = st.mtimeMs;
  if (st.isDirectory()) {
    for (const entry of readdirSync(path)) {
      if (entry === 'node_modules') continue;
      latest = Math.max(latest, newest(join(path, entry)));
    }
  }
  return latest;
}

let built = 0;
try {
  built = statSync(stamp).mtimeMs;
} catch {}
const sources = Math.max(...[...folders, ...files].map((f) => newest(join(root, f))));
if (process.argv.includes('--if-stale') && built > 0 && sources < built) process.exit(0);

const started = Date.now();
const why = !process.argv.includes('--if-stale')
  ? 'Compiling'
  : built
    ? 'Sources changed since the last build: compiling'
    : 'First run: compiling';
process.stderr.write(`${why} TypeScript to dist/… `);
const tsc = spawnSync(
  process.execPath,
  [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
  { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] },
);
if (tsc.status !== 0) {
  process.stderr.write('\nThe TypeScript build failed (errors above).\n');
  process.exit(tsc.status ?? 1);
}
mkdirSync(dirname(stamp), { recursive: true });
// The stamp takes the time the build started: a source saved during the build is newer than it.
writeFileSync(stamp, '');
utimesSync(stamp, new Date(started), new Date(started));
process.stderr.write(`done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
