/**
 * /health, /ready and /metrics of a publisher API and of the gateway, on servers of this file's
 * own in this process (the shared collector's databases): readiness when the database is down,
 * a publisher's /metrics counting an insert, who may scrape, and request ids.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { http, postDatum, startTestApi, startTestGateway } from './helpers.js';
import { parseMetrics, sample } from './prometheus.js';

const DOWN_URL = 'postgres://nobody:nothing@127.0.0.1:1/none';
const TOKEN = 'metrics-token-0123456789abcdef';

async function metrics(url: string, headers: Record<string, string> = {}) {
  const res = await http(`${url}/metrics`, { headers });
  expect(res.status, res.text).toBe(200);
  return parseMetrics(res.text);
}

describe('/health and /ready', () => {
  it.each([
    ['publisher API', () => startTestApi({ databaseUrl: DOWN_URL }), 'publisher database'],
    ['gateway', () => startTestGateway({ databaseUrl: DOWN_URL }), 'subscriber database'],
  ] as const)(
    '%s with its database down: /health 200, /ready 503 saying why',
    async (_, start, what) => {
      const server = await start();
      try {
        const health = await http(`${server.url}/health`);
        expect(health.status).toBe(200);
        expect(health.body).toEqual({ status: 'ok' });
        const ready = await http(`${server.url}/ready`);
        expect(ready.status).toBe(503);
        expect(ready.headers.get('content-type')).toMatch(/^application\/json/);
        expect(ready.body).toEqual({
          status: 'unavailable',
          database: 'unreachable',
          error: {
            code: 'SERVICE_UNAVAILABLE',
            message: `The ${what} does not answer (connection refused); details are in this server's log.`,
          },
        });
      } finally {
        await server.stop();
      }
    },
  );

  it.each([
    ['publisher API', () => startTestApi()],
    ['gateway', () => startTestGateway()],
  ] as const)('%s with its database up: both 200', async (_, start) => {
    const server = await start();
    try {
      expect((await http(`${server.url}/health`)).status).toBe(200);
      const ready = await http(`${server.url}/ready`);
      expect(ready.status).toBe(200);
      expect(ready.body).toEqual({ status: 'ready', database: 'reachable' });
    } finally {
      await server.stop();
    }
  });
});

describe("a publisher API's /metrics", () => {
  it('counts an insert: rows inserted, group commit, and the request by route and status', async () => {
    const api = await startTestApi();
    try {
      const before = await metrics(api.url);
      const value = (families: typeof before, name: string, labels = {}) =>
        Number(sample(families, name, labels)?.value ?? 0);
      const res = await postDatum(api.url, { metrics: randomUUID() });
      expect(res.status).toBe(201);
      const after = await metrics(api.url);
      expect(value(after, 'collector_publisher_rows_inserted_total')).toBe(
        value(before, 'collector_publisher_rows_inserted_total') + 1,
      );
      expect(value(after, 'collector_publisher_group_commit_flushes_total')).toBe(
        value(before, 'collector_publisher_group_commit_flushes_total') + 1,
      );
      expect(value(after, 'collector_publisher_group_commit_rows_total')).toBe(
        value(before, 'collector_publisher_group_commit_rows_total') + 1,
      );
      const labels = { method: 'POST', route: '/data', status: '201' };
      expect(value(after, 'collector_http_requests_total', labels)).toBe(
        value(before, 'collector_http_requests_total', labels) + 1,
      );
      expect(
        value(after, 'collector_http_request_duration_seconds_count', {
          method: 'POST',
          route: '/data',
        }),
      ).toBe(1);
      // A batch counts each of its rows.
      const batch = await http(`${api.url}/data/batch`, {
        method: 'POST',
        json: [{ data: 1 }, { data: 2 }, { data: 3 }],
      });
      expect(batch.status).toBe(201);
      expect(value(await metrics(api.url), 'collector_publisher_rows_inserted_total')).toBe(
        value(before, 'collector_publisher_rows_inserted_total') + 4,
      );
      // A path with an id is counted under its route, not its path.
      await http(`${api.url}/data/${randomUUID()}`);
      expect(
        value(await metrics(api.url), 'collector_http_requests_total', {
          route: '/data/:id',
          status: '404',
        }),
      ).toBe(1);
    } finally {
      await api.stop();
    }
  });
});

describe('who may scrape /metrics', () => {
  it.each([
    ['publisher API', (o: object) => startTestApi(o)],
    ['gateway', (o: object) => startTestGateway(o)],
  ] as const)(
    '%s: closed in production without a token; with one, only its bearer',
    async (_, start) => {
      const closed = await start({ production: true });
      try {
        const res = await http<{ error: { code: string; message: string } }>(
          `${closed.url}/metrics`,
        );
        expect(res.status).toBe(403);
        expect(res.body.error.code).toBe('FORBIDDEN');
        expect(res.body.error.message).toContain('COLLECTOR_METRICS_TOKEN');
      } finally {
        await closed.stop();
      }
      const guarded = await start({ production: true, metricsToken: TOKEN });
      try {
        const none = await http(`${guarded.url}/metrics`);
        expect(none.status).toBe(401);
        expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
        const wrong = await http(`${guarded.url}/metrics`, {
          headers: { authorization: 'Bearer not-the-metrics-token' },
        });
        expect(wrong.status).toBe(401);
        const families = await metrics(guarded.url, { authorization: `Bearer ${TOKEN}` });
        expect(families.find((f) => f.name === 'collector_http_requests_total')?.type).toBe(
          'COUNTER',
        );
        // /health stays open whatever the token.
        expect((await http(`${guarded.url}/health`)).status).toBe(200);
      } finally {
        await guarded.stop();
      }
    },
  );
});

describe('request ids', () => {
  it('X-Request-Id: kept when sent, a fresh UUID otherwise, and never copied when malformed', async () => {
    const api = await startTestApi();
    try {
      const sent = await http(`${api.url}/health`, { headers: { 'x-request-id': 'abc-123' } });
      expect(sent.headers.get('x-request-id')).toBe('abc-123');
      const fresh = await http(`${api.url}/health`);
      expect(fresh.headers.get('x-request-id')).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/,
      );
      const long = await http(`${api.url}/health`, {
        headers: { 'x-request-id': 'x'.repeat(500) },
      });
      expect(long.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      // Errors carry it too.
      const missing = await http(`${api.url}/nowhere`, { headers: { 'x-request-id': 'err-1' } });
      expect(missing.status).toBe(404);
      expect(missing.headers.get('x-request-id')).toBe('err-1');
    } finally {
      await api.stop();
    }
  });
});
