/**
 * What browsers and everyday GraphQL clients run into: CORS (a local page may call, another site
 * may not), GET queries as urql sends them (allowed with a token, refused bare, so CSRF
 * protection holds), 405 with Allow on a wrong method, the original project's read URLs, and `me`.
 */
import { describe, expect, it } from 'vitest';
import { adminToken, collector, gql, http } from './helpers.js';

const gateway = () => collector().gatewayUrl;
const publisher = () => (collector().publishers[0] as { url: string }).url;

function preflight(url: string, origin: string) {
  return http(url, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type',
    },
  });
}

describe('CORS', () => {
  it('lets a page served from this machine call the gateway, /login and the publishers', async () => {
    for (const url of [`${gateway()}/graphql`, `${gateway()}/login`, `${publisher()}/data`]) {
      const res = await preflight(url, 'http://localhost:5173');
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
      expect(res.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    }
    const answer = await http(`${gateway()}/graphql`, {
      method: 'POST',
      headers: { origin: 'http://127.0.0.1:3000', authorization: `Bearer ${await adminToken()}` },
      json: { query: '{ me { username } }' },
    });
    expect(answer.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:3000');
  });

  it('gives a page on another site nothing', async () => {
    const res = await preflight(`${gateway()}/graphql`, 'https://evil.example');
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const answer = await http(`${gateway()}/graphql`, {
      method: 'POST',
      headers: { origin: 'https://evil.example' },
      json: { query: '{ __typename }' },
    });
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('GET queries', () => {
  it('work with a token, as urql and graphql-request send them', async () => {
    const query = encodeURIComponent('{ me { username } }');
    const res = await http<{ data: { me: { username: string } } }>(
      `${gateway()}/graphql?query=${query}`,
      { headers: { authorization: `Bearer ${await adminToken()}` } },
    );
    expect(res.status).toBe(200);
    expect(res.body.data.me.username).toBe('admin');
  });

  it('are refused bare, as a cross-site request forgery would send them', async () => {
    const res = await http<{ errors: Array<{ message: string }> }>(
      `${gateway()}/graphql?query=${encodeURIComponent('{ __typename }')}`,
    );
    expect(res.status).toBe(400);
    expect(res.body.errors[0]?.message).toMatch(/CSRF/);
  });
});

describe('wrong methods and old URLs', () => {
  it('answer 405 with Allow on an existing route', async () => {
    const login = await http<{ error: { code: string; message: string } }>(`${gateway()}/login`);
    expect(login.status).toBe(405);
    expect(login.headers.get('allow')).toBe('POST');
    expect(login.body.error.code).toBe('METHOD_NOT_ALLOWED');
    const data = await http(`${publisher()}/data/`, { method: 'DELETE' });
    expect(data.status).toBe(405);
    expect(data.headers.get('allow')).toMatch(/GET.*POST/);
    const one = await http(`${publisher()}/data/00000000-0000-4000-8000-000000000000`, {
      method: 'PUT',
    });
    expect(one.status).toBe(405);
    expect(one.headers.get('allow')).toMatch(/GET/);
    expect((await http(`${publisher()}/nothing-here`)).status).toBe(404);
  });

  it("point the original project's subscriber reads at GraphQL", async () => {
    for (const path of ['/data/', '/annotation/']) {
      const res = await http<{ error: { message: string; graphql: { query: string } } }>(
        `${gateway()}${path}`,
      );
      expect(res.status).toBe(404);
      expect(res.body.error.message).toMatch(/POST \/graphql/);
      expect(res.body.error.graphql.query).toMatch(/^\{ data\(first: 50\)/);
    }
  });
});

describe('me', () => {
  it('says who the token belongs to, and needs one', async () => {
    const res = await gql<{ me: { id: string; username: string } }>(
      '{ me { id username } }',
      {},
      await adminToken(),
    );
    expect(res.body.data?.me.username).toBe('admin');
    const anonymous = await gql('{ me { id } }');
    expect(anonymous.status).toBe(401);
  });
});
