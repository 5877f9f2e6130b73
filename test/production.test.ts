/**
 * The gateway in production mode (NODE_ENV=production): no Sandbox, no introspection, no schema
 * hints in errors.
 */
import { randomBytes } from 'node:crypto';
import { getIntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../common/service.js';
import { gatewayConfigFromEnv } from '../subscriber-graphql/config.js';
import { startGateway } from '../subscriber-graphql/start.js';
import { collector, http } from './helpers.js';

let gateway: RunningService;

beforeAll(async () => {
  // Configured the way compose configures it: from the environment, through the real reader.
  gateway = await startGateway(
    gatewayConfigFromEnv({
      NODE_ENV: 'production',
      COLLECTOR_SUBSCRIBER_DATABASE_URL: collector().subscriberGatewayUrl,
      COLLECTOR_JWT_SECRET: randomBytes(32).toString('hex'),
      COLLECTOR_GATEWAY_PORT: '0',
      COLLECTOR_LOG_LEVEL: 'silent',
    }),
  );
});
afterAll(() => gateway.stop());

const post = (query: string, token?: string) =>
  http<{
    data?: Record<string, unknown>;
    errors?: Array<{ message: string; extensions?: { code?: string } }>;
  }>(`${gateway.url}/graphql`, {
    method: 'POST',
    headers: token ? { authorization: `Bearer ${token}` } : {},
    json: { query },
  });

describe('production gateway', () => {
  it('serves no Apollo Sandbox', async () => {
    const page = await http(`${gateway.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(page.text).not.toMatch(/sandbox/i);
    // Without a landing page a bare GET is just a GraphQL request with no query.
    expect(page.status).toBe(400);
  });

  it('refuses introspection', async () => {
    const res = await post(getIntrospectionQuery());
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.message).toMatch(/introspection is not allowed/i);
  });

  it('suggests no field names in its errors, to anyone', async () => {
    const token = (
      await post(`mutation { login(username: "admin", password: "${collector().adminPassword}") }`)
    ).body.data?.login as string;
    for (const bearer of [undefined, token]) {
      const res = await post('{ dat(first: 1) { nodes { id } } }', bearer);
      expect(res.status).toBe(400);
      const message = res.body.errors?.[0]?.message ?? '';
      expect(message).toMatch(/Cannot query field "dat" on type "Query"/);
      expect(message).not.toMatch(/Did you mean/);
    }
    // The development gateway still helps.
    const dev = await http<{ errors?: Array<{ message: string }> }>(
      `${collector().gatewayUrl}/graphql`,
      { method: 'POST', json: { query: '{ dat(first: 1) { nodes { id } } }' } },
    );
    expect(dev.body.errors?.[0]?.message).toMatch(/Did you mean "data"/);
  });

  it('logs in and serves data, with its own signing key', async () => {
    const login = await post(
      `mutation { login(username: "admin", password: "${collector().adminPassword}") }`,
    );
    expect(login.status).toBe(200);
    const token = login.body.data?.login as string;
    const data = await post('{ data(first: 1) { pageInfo { hasNextPage } } }', token);
    expect(data.status).toBe(200);
    expect(data.body.errors).toBeUndefined();
    // A token from the development gateway (another key) is worthless here.
    const other = await http<{ token: string }>(`${collector().gatewayUrl}/login`, {
      method: 'POST',
      json: { username: 'admin', password: collector().adminPassword },
    });
    const refused = await post('{ data(first: 1) { pageInfo { hasNextPage } } }', other.body.token);
    expect(refused.status).toBe(401);
  });
});
