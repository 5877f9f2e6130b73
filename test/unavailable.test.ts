/**
 * A database that is down, out of connections or shutting down is SERVICE_UNAVAILABLE (503), never
 * a 500: `toAppError` on errors shaped like node-postgres's, and a real gateway whose own
 * database sessions are terminated under it.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError, toAppError } from '../common/errors.js';
import type { RunningService } from '../common/service.js';
import { startGateway } from '../subscriber-graphql/start.js';
import { collector, http, waitFor, withClient } from './helpers.js';

/** An error as node-postgres raises it for an ErrorResponse with this SQLSTATE. */
function pgError(code: string, message = `simulated ${code}`): pg.DatabaseError {
  const e = new pg.DatabaseError(message, message.length, 'error');
  e.code = code;
  e.severity = 'FATAL';
  return e;
}

describe('toAppError', () => {
  it.each([
    ['08006', 'connection_failure'],
    ['08001', 'sqlclient_unable_to_establish_sqlconnection'],
    ['08P01', 'protocol_violation'],
    ['53300', 'too_many_connections'],
    ['53100', 'disk_full'],
    ['57P01', 'admin_shutdown'],
    ['57P02', 'crash_shutdown'],
    ['57P03', 'cannot_connect_now'],
  ])('maps SQLSTATE %s (%s) to SERVICE_UNAVAILABLE, 503', (code) => {
    const mapped = toAppError(pgError(code));
    expect(mapped).toBeInstanceOf(AppError);
    expect(mapped?.code).toBe('SERVICE_UNAVAILABLE');
    expect(mapped?.status).toBe(503);
    // The database's own words stay in the server log.
    expect(mapped?.message).toBe('The database is unavailable; try again shortly');
  });

  it.each([
    ['42501', 'insufficient_privilege'],
    ['42P01', 'undefined_table'],
    ['XX000', 'internal_error'],
  ])('leaves SQLSTATE %s (%s) unmapped: a bug, answered 500', (code) => {
    expect(toAppError(pgError(code))).toBeUndefined();
  });

  it('maps 57014 (our statement timeout cancelled the statement) to 504', () => {
    expect(toAppError(pgError('57014'))).toMatchObject({ code: 'GATEWAY_TIMEOUT', status: 504 });
  });

  it('maps a refused connection and a connection cut mid-query to 503', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
      code: 'ECONNREFUSED',
    });
    expect(toAppError(refused)?.status).toBe(503);
    expect(toAppError(new Error('Connection terminated unexpectedly'))?.status).toBe(503);
  });
});

describe('a gateway whose database sessions are terminated', () => {
  // Its own gateway (the real one, started like compose starts it) under a unique
  // application_name: terminating the shared gateway's sessions could fail other test files.
  const applicationName = `collector-gateway-${randomUUID().slice(0, 8)}`;
  let gateway: RunningService;

  beforeAll(async () => {
    const url = new URL(collector().subscriberGatewayUrl);
    // node-postgres lets the URL's parameters override the pool's application_name.
    url.searchParams.set('application_name', applicationName);
    gateway = await startGateway({
      databaseUrl: url.toString(),
      host: '127.0.0.1',
      port: 0,
      jwtSecret: collector().jwtSecret,
      jwtTtlSeconds: 3600,
      bodyLimit: 1024 * 1024,
      logLevel: 'silent',
      production: false,
    });
  });
  afterAll(() => gateway.stop());

  const login = () =>
    http<{ data?: { login?: string }; errors?: Array<{ extensions?: { code?: string } }> }>(
      `${gateway.url}/graphql`,
      {
        method: 'POST',
        json: {
          query: 'mutation($p: String!) { login(username: "admin", password: $p) }',
          variables: { p: collector().adminPassword },
        },
      },
    );

  const terminate = (where: string) =>
    withClient(collector().subscriberAdminUrl, async (c) => {
      const { rows } = await c.query<{ n: number }>(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
          WHERE application_name = $1 AND ${where}`,
        [applicationName],
      );
      return rows[0]?.n ?? 0;
    });

  it('answers normally or 503 right after its idle sessions are killed, then recovers', async () => {
    // Fill the pool with a few sessions.
    const warm = await Promise.all(Array.from({ length: 4 }, login));
    expect(warm.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(await terminate('true')).toBeGreaterThan(0);

    const right = await login();
    expect([200, 503]).toContain(right.status);
    if (right.status === 503) {
      expect(right.body.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    }
    const next = await login();
    expect(next.status).toBe(200);
    expect(next.body.data?.login).toBeTruthy();
  });

  it('answers 503 (not 500) for a query whose session is killed mid-flight, then recovers', async () => {
    // Hold app_user so the gateway's login query waits on a lock; only briefly, since other test
    // files log in too.
    await withClient(collector().subscriberAdminUrl, async (admin) => {
      await admin.query('BEGIN');
      let pending: ReturnType<typeof login> | undefined;
      try {
        await admin.query('LOCK TABLE app_user IN ACCESS EXCLUSIVE MODE');
        pending = login();
        await waitFor('the gateway waiting on the lock', async () => {
          const { rows } = await admin.query(
            `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
            [applicationName],
          );
          return rows.length > 0 ? true : undefined;
        });
        expect(await terminate(`wait_event_type = 'Lock'`)).toBe(1);
      } finally {
        await admin.query('ROLLBACK');
      }
      const res = await pending;
      expect(res?.status).toBe(503);
      expect(res?.body.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    });
    const next = await login();
    expect(next.status).toBe(200);
    expect(next.body.data?.login).toBeTruthy();
  });
});
