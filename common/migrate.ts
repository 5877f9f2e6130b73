/**
 * Applies the plain numbered SQL files in `sql/<kind>/` in order, recording each one, with Kysely's
 * Migrator (which also takes a lock, so two setups cannot race). A DBA can read or apply the files
 * without the app.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely';
import { sqlDir } from './paths.js';

class SqlFileProvider implements MigrationProvider {
  constructor(private readonly dir: string) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const files = (await readdir(this.dir)).filter((f) => /^\d+_.*\.sql$/.test(f)).sort();
    const out: Record<string, Migration> = {};
    for (const file of files) {
      const text = await readFile(path.join(this.dir, file), 'utf8');
      // A query with no parameters goes over the simple protocol, so a file may hold many statements.
      out[file.replace(/\.sql$/, '')] = {
        up: async (db) => void (await sql.raw(text).execute(db)),
      };
    }
    return out;
  }
}

export async function migrate(
  db: Kysely<unknown>,
  kind: 'publisher' | 'subscriber',
): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: new SqlFileProvider(sqlDir(kind)),
    migrationTableName: 'collector_migration',
    migrationLockTableName: 'collector_migration_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Migration ${failed ?? ''} of sql/${kind} failed: ${reason}`);
  }
  return (results ?? []).map((r) => r.migrationName);
}
