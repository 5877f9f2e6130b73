import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';

export interface PoolOptions {
  max?: number;
  applicationName: string;
  /** Server settings for every session (`-c name=value …`), e.g. to keep passwords out of logs. */
  options?: string;
}

/** A Kysely instance over a `pg` pool. Each process builds its own from its validated config. */
export function createKysely<DB>(connectionString: string, opts: PoolOptions): Kysely<DB> {
  const pool = new pg.Pool({
    connectionString,
    max: opts.max ?? 10,
    application_name: opts.applicationName,
    options: opts.options,
    // Fail a request quickly with a clear 503 rather than hang when the database is down.
    connectionTimeoutMillis: 5000,
  });
  // An idle client losing its connection (database restart) must not crash the process.
  pool.on('error', () => {});
  return new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
}

/** Whether the database answers a trivial query. */
export async function ping(db: Kysely<unknown>): Promise<boolean> {
  try {
    await sql`SELECT 1`.execute(db);
    return true;
  } catch {
    return false;
  }
}
