import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { duration } from './env.js';
import { RawJson } from './raw-json.js';

/** Each service's limit on one SQL statement (its config schema includes it). */
export const statementTimeoutSetting = duration(
  'COLLECTOR_STATEMENT_TIMEOUT',
  'longest one SQL statement may run before it is cancelled (504); 0ms for none',
  10_000,
);

export interface PoolOptions {
  max?: number;
  applicationName: string;
  /** Server settings for every session (`-c name=value …`), e.g. to keep passwords out of logs. */
  options?: string;
  /**
   * Server-side limit on one statement, in milliseconds (0: none). Its expiry cancels the
   * statement (SQLSTATE 57014), which the transports answer with 504.
   */
  statementTimeoutMs?: number;
  /**
   * Read json and jsonb columns as `RawJson` (their text, unparsed) instead of JavaScript values:
   * exact numbers, and no parse of what is only written back out as JSON.
   */
  rawJson?: boolean;
}

const JSON_OIDS = new Set([114, 3802]); // json, jsonb
export const rawJsonTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (JSON_OIDS.has(oid)) return (text: string) => new RawJson(text);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

const IDLE_IN_TRANSACTION_MS = 60_000;

/** A Kysely instance over a `pg` pool. Each process builds its own from its validated config. */
export function createKysely<DB>(connectionString: string, opts: PoolOptions): Kysely<DB> {
  const settings = [opts.options ?? ''];
  if (opts.statementTimeoutMs !== undefined) {
    // Startup settings override the role's defaults (sql/*/..._timeouts.sql), 0 included.
    settings.push(`-c statement_timeout=${opts.statementTimeoutMs}`);
    // A transaction left open by a bug must not hold its locks and its connection for long.
    settings.push(`-c idle_in_transaction_session_timeout=${IDLE_IN_TRANSACTION_MS}`);
  }
  const pool = new pg.Pool({
    connectionString,
    max: opts.max ?? 10,
    application_name: opts.applicationName,
    options: settings.join(' ').trim() || undefined,
    // Fail a request quickly with a clear 503 rather than hang when the database is down.
    connectionTimeoutMillis: 5000,
    ...(opts.rawJson ? { types: rawJsonTypes } : {}),
  });
  // An idle client losing its connection (database restart) emits 'error' on the pool.
  pool.on('error', () => {});
  // A client that is checked out when its connection drops (pg_terminate_backend, a killed
  // postmaster) emits 'error' on itself, and the pool listens only while the client is idle: with
  // no listener there, Node would crash the whole process. Its query rejects anyway, and the pool
  // discards the broken client when it is released.
  pool.on('connect', (client) => client.on('error', () => {}));
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
