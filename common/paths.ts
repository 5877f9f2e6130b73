import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository root, found by walking up from this file. Works both from sources (vitest) and
 * from the compiled `dist/` tree, so `sql/` is read from one place.
 */
export function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'sql'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('Cannot find the project root (a folder with sql/)');
    dir = parent;
  }
}

export function sqlDir(kind: 'publisher' | 'subscriber'): string {
  return path.join(projectRoot(), 'sql', kind);
}
