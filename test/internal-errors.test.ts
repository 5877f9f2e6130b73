/**
 * A real unexpected error (one no mapping knows) is INTERNAL_SERVER_ERROR, HTTP 500, and a gateway
 * in production tells the client nothing of it. The error is real: gateways run as a role that
 * lacks privileges the gateway needs, so PostgreSQL refuses with 42501 (insufficient_privilege),
 * which no mapping covers. The role is this file's own; nothing shared is changed.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../common/service.js';
import { gatewayConfigFromEnv } from '../subscriber-graphql/config.js';
import { startGateway } from '../subscriber-graphql/start.js';
import { adminToken, collector, http, replicatedDatum, uniqueTag, withClient } from './helpers.js';

// Not named collector*: test/privileges.test.ts checks every collector* role, in parallel.
const role = `test_lacking_${randomUUID().slice(0, 8)}`;
const password = randomBytes(18).toString('base64url');
const secret = randomBytes(32).toString('base64url');
let production: RunningService;
let development: RunningService;
let dataId: string;

beforeAll(async () => {
  dataId = await replicatedDatum({ tag: uniqueTag('internal') });
  await withClient(collector().subscriberAdminUrl, async (c) => {
    await c.query(`CREATE ROLE ${role} LOGIN PASSWORD ${pg.escapeLiteral(password)}`);
    await c.query(`GRANT CONNECT ON DATABASE collector TO ${role}`);
    // Data, and the user columns a token's session check reads; not password_hash (login)
    // nor annotation.
    await c.query(`GRANT SELECT ON data TO ${role}`);
    await c.query(
      `GRANT SELECT (id, username, role, session_version, disabled) ON app_user TO ${role}`,
    );
  });
  const url = new URL(collector().subscriberGatewayUrl);
  url.username = role;
  url.password = password;
  const env = {
    COLLECTOR_SUBSCRIBER_DATABASE_URL: url.toString(),
    COLLECTOR_JWT_SECRET: secret,
    COLLECTOR_GATEWAY_PORT: '0',
    COLLECTOR_LOG_LEVEL: 'silent',
  };
  production = await startGateway(gatewayConfigFromEnv({ ...env, NODE_ENV: 'production' }));
  development = await startGateway(gatewayConfigFromEnv(env));
});

afterAll(async () => {
  await production?.stop();
  await development?.stop();
  await withClient(collector().subscriberAdminUrl, async (c) => {
    await c.query(`DROP OWNED BY ${role}`);
    await c.query(`DROP ROLE ${role}`);
  });
});

/** A token for the shared collector's admin (the same user id and session), signed with our key. */
const token = async () => {
  const admin = jwt.decode(await adminToken(), { json: true }) as { sub: string; sv: number };
  return jwt.sign({ username: 'admin', sv: admin.sv }, secret, {
    algorithm: 'HS256',
    issuer: 'the-collector',
    audience: 'collector-graphql',
    subject: admin.sub,
    expiresIn: 60,
  });
};

interface GqlBody {
  data?: unknown;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

const annotationsOf = async (gateway: RunningService) =>
  http<GqlBody>(`${gateway.url}/graphql`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await token()}` },
    json: {
      query: 'query($id: UUID!) { datum(id: $id) { id annotations { id } } }',
      variables: { id: dataId },
    },
  });

const login = (gateway: RunningService) =>
  http<GqlBody>(`${gateway.url}/graphql`, {
    method: 'POST',
    json: {
      query: 'mutation($p: String!) { login(username: "admin", password: $p) }',
      variables: { p: collector().adminPassword },
    },
  });

const restLogin = (gateway: RunningService) =>
  http<{ error: { code: string; message: string } }>(`${gateway.url}/login`, {
    method: 'POST',
    json: { username: 'admin', password: collector().adminPassword },
  });

/** What PostgreSQL said; a production gateway must not repeat any of it. */
const LEAKS = /permission denied|table app_user|table annotation|42501/;

describe('an unexpected database error', () => {
  it('over REST is INTERNAL_SERVER_ERROR, HTTP 500, with a generic message', async () => {
    for (const gateway of [production, development]) {
      const res = await restLogin(gateway);
      expect(res.status).toBe(500);
      expect(res.body.error).toEqual({
        code: 'INTERNAL_SERVER_ERROR',
        message: 'Internal error; it has been logged on the server.',
      });
      expect(res.text).not.toMatch(LEAKS);
    }
  });

  it('over GraphQL in production is INTERNAL_SERVER_ERROR with a generic message', async () => {
    const partial = await annotationsOf(production);
    expect(partial.body.data).toEqual({ datum: null });
    expect(partial.body.errors).toHaveLength(1);
    expect(partial.body.errors?.[0]).toMatchObject({
      message: 'Internal server error',
      // A datum's annotations are read with it (one batched statement), so their failure is
      // the datum's.
      path: ['datum'],
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
    expect(partial.text).not.toMatch(LEAKS);
    expect(partial.status).not.toBe(400);

    const failed = await login(production);
    expect(failed.body.data).toBeNull();
    expect(failed.body.errors?.[0]).toMatchObject({
      message: 'Internal server error',
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
    expect(failed.text).not.toMatch(LEAKS);
    expect(failed.status).not.toBe(400);
  });

  it('over GraphQL in development shows the real message (so the trick above is real)', async () => {
    const partial = await annotationsOf(development);
    expect(partial.body.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(partial.body.errors?.[0]?.message).toBe('permission denied for table annotation');
    const failed = await login(development);
    expect(failed.body.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(failed.body.errors?.[0]?.message).toBe('permission denied for table app_user');
  });

  // Apollo answers 200 by default, even when the whole operation failed (data: null); a client
  // or a load balancer that reads statuses must see 500.
  it('over GraphQL is answered HTTP 500 when the operation failed', async () => {
    for (const gateway of [production, development]) {
      const failed = await login(gateway);
      expect(failed.body.data).toBeNull();
      expect(failed.status).toBe(500);
    }
  });
});
