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
  /**
   * Read timestamptz columns as PostgreSQL's own text in UTC (`2026-11-26 16:18:33.098123+00`; the
   * session's TimeZone is set to UTC), unparsed. The gateway's DateTime scalar writes each one it
   * serves as ISO 8601: a timestamp a query does not select (receivedAt, updatedAt) costs nothing.
   */
  timestampText?: boolean;
}

const JSON_OIDS = new Set([114, 3802]); // json, jsonb
const TIMESTAMPTZ_OID = 1184;

const asText = (text: string) => text;

function typeParsers(opts: { rawJson?: boolean; timestampText?: boolean }): pg.CustomTypesConfig {
  return {
    getTypeParser(oid: number, format?: 'text' | 'binary') {
      if (opts.rawJson && JSON_OIDS.has(oid)) return (text: string) => new RawJson(text);
      if (opts.timestampText && oid === TIMESTAMPTZ_OID) return asText;
      return pg.types.getTypeParser(oid, format);
    },
  } as pg.CustomTypesConfig;
}

export const rawJsonTypes = typeParsers({ rawJson: true });

const IDLE_IN_TRANSACTION_MS = 60_000;

/**
 * Statement texts that run as named prepared statements: parsed and planned once per connection,
 * then only bound and executed. A service has a few dozen shapes of statement (values are always
 * parameters); past this many distinct texts (filters of many shapes), new ones run unnamed, so
 * neither this map nor each connection's statements grow without bound.
 */
const MAX_PREPARED = 500;
const statementNames = new Map<string, string>();

function statementName(text: string): string | undefined {
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < MAX_PREPARED) {
    name = `collector_${statementNames.size}`;
    statementNames.set(text, name);
  }
  return name;
}

/**
 * Makes `client` run each parameterised query (Kysely passes text and values) as a named prepared
 * statement. A text without values may hold several statements (migrations): it runs as it is.
 */
function prepareStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as { query: unknown }).query = (...args: unknown[]) => {
    const [text, values] = args;
    if (typeof text === 'string' && Array.isArray(values) && values.length > 0) {
      const name = statementName(text);
      if (name !== undefined) return query({ name, text, values }, ...args.slice(2));
    }
    return query(...args);
  };
}

/** A Kysely instance over a `pg` pool. Each process builds its own from its validated config. */
export function createKysely<DB>(connectionString: string, opts: PoolOptions): Kysely<DB> {
  const settings = [opts.options ?? ''];
  if (opts.timestampText) settings.push('-c TimeZone=UTC');
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
    ...(opts.rawJson || opts.timestampText ? { types: typeParsers(opts) } : {}),
  });
  // An idle client losing its connection (database restart) emits 'error' on the pool.
  pool.on('error', () => {});
  // A client that is checked out when its connection drops (pg_terminate_backend, a killed
  // postmaster) emits 'error' on itself, and the pool listens only while the client is idle: with
  // no listener there, Node would crash the whole process. Its query rejects anyway, and the pool
  // discards the broken client when it is released.
  pool.on('connect', (client) => {
    client.on('error', () => {});
    prepareStatements(client);
  });
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
