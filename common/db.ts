import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';

export interface PoolOptions {
  max?: number;
  applicationName: string;
}

/** A Kysely instance over a `pg` pool. Each process builds its own from its validated config. */
export function createKysely<DB>(connectionString: string, opts: PoolOptions): Kysely<DB> {
  const pool = new pg.Pool({
    connectionString,
    max: opts.max ?? 10,
    application_name: opts.applicationName,
    // Fail a request quickly with a clear 503 rather than hang when the database is down.
    connectionTimeoutMillis: 5000,
  });
  // An idle client losing its connection (database restart) must not crash the process.
  pool.on('error', () => {});
  return new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
}
