/**
 * Login fairness, over real sockets from different source addresses (Linux routes all of 127/8 to
 * loopback, so a client socket can bind 127.0.0.2, 127.0.0.3, …): one address flooding logins
 * cannot deny logins to another; failed logins are limited per account across addresses, without
 * locking out an address the account logged in from before; X-Forwarded-For counts only from a
 * trusted proxy. Each test runs its own gateway, so that its throttle starts empty.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKysely } from '../common/db.js';
import { ConfigError, readConfig } from '../common/env.js';
import { serverLimitsSchema } from '../common/http.js';
import type { RunningService } from '../common/service.js';
import type { SubscriberDB, SubscriberDb } from '../subscriber-graphql/db.js';
import { createUser } from '../subscriber-graphql/services/users.js';
import { collector, startTestGateway, uniqueTag } from './helpers.js';

const PASSWORD = 'a-long-password';

interface Reply {
  status: number;
  body: { error?: { code: string; message: string }; errors?: Array<{ message: string }> };
  retryAfter: string | undefined;
}

/** POSTs JSON from a chosen source address, on a connection of its own. */
function post(
  url: string,
  json: unknown,
  opts: { from?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(json);
    const req = request(
      url,
      {
        method: 'POST',
        agent: false,
        localAddress: opts.from,
        headers: { 'content-type': 'application/json', ...opts.headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => {
          const retry = res.headers['retry-after'];
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(text),
            retryAfter: Array.isArray(retry) ? retry[0] : retry,
          });
        });
      },
    );
    req.setTimeout(20_000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

let db: SubscriberDb;
let user: string;
beforeAll(async () => {
  db = createKysely<SubscriberDB>(collector().subscriberAdminUrl, { applicationName: 'test' });
  user = uniqueTag('fair').slice(0, 40);
  await createUser(db, user, PASSWORD);
});
afterAll(() => db.destroy());

async function withGateway(
  overrides: Parameters<typeof startTestGateway>[0],
  fn: (g: RunningService) => Promise<void>,
): Promise<void> {
  const gateway = await startTestGateway(overrides);
  try {
    await fn(gateway);
  } finally {
    await gateway.stop();
  }
}

const guess = (url: string, from?: string, headers?: Record<string, string>) =>
  post(
    `${url}/login`,
    { username: uniqueTag('nobody').slice(0, 40), password: 'wrong-password' },
    { from, headers },
  );

describe('one address cannot deny logins to the others', () => {
  it('60 concurrent logins from 127.0.0.1 do not stop a login from 127.0.0.2', async () => {
    await withGateway({}, async (g) => {
      const flood = Array.from({ length: 60 }, () => guess(g.url, '127.0.0.1'));
      // Let the flood arrive and fill its queue first.
      await new Promise((r) => setTimeout(r, 50));
      const other = await post(
        `${g.url}/login`,
        { username: user, password: PASSWORD },
        { from: '127.0.0.2' },
      );
      expect(other.status).toBe(200);
      const statuses = (await Promise.all(flood)).map((r) => r.status);
      // The flooder got its share (401: wrong password) and 429s for the rest, with Retry-After.
      expect(statuses.filter((s) => s === 401).length).toBeGreaterThanOrEqual(2);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(30);
      expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
      const refused = await Promise.all(Array.from({ length: 8 }, () => guess(g.url, '127.0.0.1')));
      const one = refused.find((r) => r.status === 429);
      expect(one?.retryAfter).toBe('1');
      expect(one?.body.error?.message).toMatch(/Too many logins at once from your address/);
    });
  });
});

describe('failed logins are limited per account, across addresses', () => {
  it('20 failures from 20 addresses lock the account for strangers, not for a known address', async () => {
    await withGateway({}, async (g) => {
      const login = (password: string, from: string) =>
        post(`${g.url}/login`, { username: user, password }, { from });
      // The real user has logged in from 127.0.0.9 before.
      expect((await login(PASSWORD, '127.0.0.9')).status).toBe(200);
      const guesses = await Promise.all(
        Array.from({ length: 20 }, (_, i) => login('wrong-password', `127.0.0.${10 + i}`)),
      );
      expect(guesses.map((r) => r.status)).toEqual(Array(20).fill(401));

      const next = await login('wrong-password', '127.0.0.30');
      expect(next.status).toBe(429);
      expect(next.body.error?.message).toMatch(/Too many failed logins for this account/);
      expect(Number(next.retryAfter)).toBeGreaterThan(0);
      // Even the right password, from an address new to the account, waits.
      expect((await login(PASSWORD, '127.0.0.31')).status).toBe(429);
      // GraphQL's login says the same, with the header too.
      const viaGraphql = await post(
        `${g.url}/graphql`,
        {
          query: 'mutation($u: String!, $p: String!) { login(username: $u, password: $p) }',
          variables: { u: user, p: PASSWORD },
        },
        { from: '127.0.0.32' },
      );
      expect(viaGraphql.status).toBe(429);
      expect(Number(viaGraphql.retryAfter)).toBeGreaterThan(0);
      // The real user, from where they logged in before, still gets in.
      expect((await login(PASSWORD, '127.0.0.9')).status).toBe(200);
    });
  });
});

describe('X-Forwarded-For', () => {
  // 20 logins at once from one socket address, each claiming another client address.
  const spoofed = (url: string) =>
    Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        guess(url, '127.0.0.1', { 'x-forwarded-for': `10.9.0.${i + 1}` }),
      ),
    );

  it('is ignored by default: all of them count as one address', async () => {
    await withGateway({}, async (g) => {
      const statuses = (await spoofed(g.url)).map((r) => r.status);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    });
  });

  it('is honoured from a proxy listed in COLLECTOR_TRUSTED_PROXIES: 20 clients, none over its share', async () => {
    await withGateway({ trustedProxies: ['127.0.0.1'] }, async (g) => {
      const statuses = (await spoofed(g.url)).map((r) => r.status);
      expect(statuses).toEqual(Array(20).fill(401));
    });
  });
});

describe('COLLECTOR_TRUSTED_PROXIES', () => {
  const read = (value: string) =>
    readConfig(serverLimitsSchema, { COLLECTOR_TRUSTED_PROXIES: value }).trustedProxies;

  it('takes addresses and CIDRs, comma-separated; unset trusts no proxy', () => {
    expect(readConfig(serverLimitsSchema, {}).trustedProxies).toEqual([]);
    expect(read(' 10.0.0.5, 10.1.0.0/16,::1,fd00::/8 ')).toEqual([
      '10.0.0.5',
      '10.1.0.0/16',
      '::1',
      'fd00::/8',
    ]);
  });

  it('names the variable and the bad entry', () => {
    for (const bad of ['proxy.example.com', '10.0.0.0/33', '10.0.0.1/8/1', '10.0.0']) {
      expect(() => read(bad)).toThrow(ConfigError);
      expect(() => read(bad)).toThrow(
        /COLLECTOR_TRUSTED_PROXIES: ".*" is not an IP address or CIDR/,
      );
    }
  });
});
