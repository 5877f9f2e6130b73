/**
 * Authentication: login over REST (form and JSON) and GraphQL, tokens pinned to HS256, and every
 * missing, malformed, forged or expired token answered with UNAUTHENTICATED (HTTP 401).
 */
import jwt from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from '../subscriber-graphql/auth.js';
import { adminToken, collector, gql, http, replicatedDatum, uniqueTag } from './helpers.js';

const QUERY = '{ data(first: 1) { pageInfo { hasNextPage } } }';

function claims() {
  return {
    issuer: 'the-collector',
    audience: 'collector-graphql',
    subject: '00000000-0000-4000-8000-000000000001',
  };
}

/** A token signed with the gateway's own key that expired `secondsAgo`. */
function expiredToken(secondsAgo: number): string {
  return jwt.sign(
    { username: 'admin', exp: Math.floor(Date.now() / 1000) - secondsAgo },
    collector().jwtSecret,
    { algorithm: 'HS256', ...claims() },
  );
}

async function expectUnauthenticated(
  token: string | undefined,
  message: RegExp,
  scheme = 'Bearer',
) {
  const res = await gql(QUERY, {}, token, scheme);
  expect(res.status).toBe(401);
  expect(res.body.data).toBeNull();
  expect(res.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  expect(res.body.errors?.[0]?.message).toMatch(message);
}

describe('login', () => {
  it('POST /login accepts form fields (the original curl) and JSON', async () => {
    const { gatewayUrl, adminPassword } = collector();
    const form = await http<{ token: string; tokenType: string; expiresIn: number }>(
      `${gatewayUrl}/login/`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username: 'admin', password: adminPassword }).toString(),
      },
    );
    expect(form.status).toBe(200);
    expect(form.body.tokenType).toBe('Bearer');
    expect(form.body.expiresIn).toBeGreaterThan(0);
    const decoded = jwt.decode(form.body.token, { complete: true });
    expect(decoded?.header.alg).toBe('HS256');
    expect(decoded?.payload).toMatchObject({ username: 'admin', iss: 'the-collector' });

    const json = await http<{ token: string }>(`${gatewayUrl}/login`, {
      method: 'POST',
      json: { username: 'admin', password: adminPassword },
    });
    expect(json.status).toBe(200);
    const res = await gql(QUERY, {}, json.body.token);
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
  });

  it('POST /login rejects a wrong password with 401 and missing fields with 400', async () => {
    const { gatewayUrl } = collector();
    const wrong = await http<{ error: { code: string; message: string } }>(`${gatewayUrl}/login`, {
      method: 'POST',
      json: { username: 'admin', password: 'not-the-password' },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toEqual({
      code: 'UNAUTHENTICATED',
      message: 'Invalid username or password',
    });
    const nobody = await http<{ error: { message: string } }>(`${gatewayUrl}/login`, {
      method: 'POST',
      json: { username: 'nobody-here', password: 'whatever1' },
    });
    expect(nobody.status).toBe(401);
    expect(nobody.body.error.message).toBe(wrong.body.error.message);
    const missing = await http<{ error: { code: string } }>(`${gatewayUrl}/login`, {
      method: 'POST',
      json: { username: 'admin' },
    });
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('BAD_USER_INPUT');
    const malformed = await http(`${gatewayUrl}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"username": ',
    });
    expect(malformed.status).toBe(400);
  });

  it('mutation login returns a working token, even when sent with an expired one', async () => {
    const expired = expiredToken(60);
    const res = await gql<{ login: string }>(
      'mutation($u: String!, $p: String!) { login(username: $u, password: $p) }',
      { u: 'admin', p: collector().adminPassword },
      expired,
    );
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    const token = res.body.data?.login as string;
    const ok = await gql(QUERY, {}, token);
    expect(ok.body.errors).toBeUndefined();
  });

  it('mutation login with a wrong password gives UNAUTHENTICATED', async () => {
    const res = await gql('mutation { login(username: "admin", password: "wrong-password") }');
    expect(res.status).toBe(401);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(res.body.errors?.[0]?.message).toBe('Invalid username or password');
  });
});

describe('tokens', () => {
  it('accepts "Authorization: Token <token>" as the original API did', async () => {
    const res = await gql(QUERY, {}, await adminToken(), 'Token');
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
  });

  it('rejects a missing token and says how to get one', () =>
    expectUnauthenticated(undefined, /Not logged in.*Authorization: Bearer/));

  it('rejects a malformed Authorization header', () =>
    expectUnauthenticated('dXNlcjpwYXNz', /Malformed Authorization header/, 'Basic'));

  it('rejects garbage', () => expectUnauthenticated('not.a.jwt', /Invalid token/));

  it('rejects an expired token and says to log in again', async () => {
    const expired = expiredToken(10);
    await expectUnauthenticated(expired, /Token expired at .*Log in again/);
  });

  it('refuses a token once it expires, though it was accepted (and remembered) before', async () => {
    const admin = jwt.decode(await adminToken()) as { sub: string; sv: number };
    const expiresAt = Math.floor(Date.now() / 1000) + 2;
    const token = jwt.sign({ sv: admin.sv, exp: expiresAt }, collector().jwtSecret, {
      algorithm: 'HS256',
      ...claims(),
      subject: admin.sub,
    });
    const ok = await gql(QUERY, {}, token);
    expect(ok.status).toBe(200);
    await new Promise((r) => setTimeout(r, expiresAt * 1000 - Date.now() + 300));
    await expectUnauthenticated(token, /Token expired at .*Log in again/);
  });

  it('rejects a token signed with another key', async () => {
    const forged = jwt.sign({ username: 'admin' }, 'some-other-secret-that-is-long-enough!!', {
      algorithm: 'HS256',
      ...claims(),
    });
    await expectUnauthenticated(forged, /invalid signature/);
  });

  it('pins the algorithm: HS512 with the right key and alg "none" are refused', async () => {
    const hs512 = jwt.sign({ username: 'admin' }, collector().jwtSecret, {
      algorithm: 'HS512',
      ...claims(),
    });
    await expectUnauthenticated(hs512, /invalid algorithm/);
    const none = jwt.sign({ username: 'admin' }, '', { algorithm: 'none', ...claims() });
    await expectUnauthenticated(none, /Invalid token: jwt signature is required/);
  });

  it('rejects a token for another audience', async () => {
    const other = jwt.sign({ username: 'admin' }, collector().jwtSecret, {
      algorithm: 'HS256',
      issuer: 'the-collector',
      audience: 'someone-else',
      subject: 'x',
    });
    await expectUnauthenticated(other, /audience invalid/);
  });

  it('guards datum(id): no token reads nothing, with UNAUTHENTICATED (401)', async () => {
    const marker = uniqueTag('secret');
    const id = await replicatedDatum({ marker });
    const res = await gql<{ datum: unknown }>('query($id: UUID!) { datum(id: $id) { id data } }', {
      id,
    });
    expect(res.status).toBe(401);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(res.body.errors?.[0]?.message).toMatch(/Not logged in/);
    expect(res.body.data?.datum ?? null).toBeNull();
    expect(res.text).not.toContain(marker);
    // The same query with a token does find it: the refusal above is about the token only.
    const ok = await gql<{ datum: { id: string } }>(
      'query($id: UUID!) { datum(id: $id) { id data } }',
      { id },
      await adminToken(),
    );
    expect(ok.body.data?.datum.id).toBe(id);
  });

  // jwt.verify checks "exp" only when present: verifyToken requires it.
  it('rejects a token without "exp" (it would never expire)', async () => {
    const eternal = jwt.sign({ username: 'admin' }, collector().jwtSecret, {
      algorithm: 'HS256',
      ...claims(),
    });
    expect(jwt.decode(eternal, { json: true })?.exp).toBeUndefined();
    await expectUnauthenticated(eternal, /Invalid token/);
  });

  it('issues tokens that expire: exp = iat + the configured lifetime', async () => {
    const { gatewayUrl, adminPassword } = collector();
    const before = Math.floor(Date.now() / 1000);
    const rest = await http<{ token: string; expiresIn: number }>(`${gatewayUrl}/login`, {
      method: 'POST',
      json: { username: 'admin', password: adminPassword },
    });
    const viaGraphql = await gql<{ login: string }>(
      'mutation($u: String!, $p: String!) { login(username: $u, password: $p) }',
      { u: 'admin', p: adminPassword },
    );
    const after = Math.ceil(Date.now() / 1000);
    // The test collector's gateway runs with an 8-hour lifetime (collector/local.ts).
    expect(rest.body.expiresIn).toBe(8 * 3600);
    for (const token of [rest.body.token, viaGraphql.body.data?.login as string]) {
      const payload = jwt.decode(token, { json: true });
      expect(payload?.iat).toBeGreaterThanOrEqual(before);
      expect(payload?.iat).toBeLessThanOrEqual(after);
      expect(payload?.exp).toBe((payload?.iat as number) + rest.body.expiresIn);
    }
  });

  it('guards mutations as well as queries', async () => {
    const res = await gql(
      'mutation { annotate(dataId: "00000000-0000-4000-8000-000000000000", body: 1) { id } }',
    );
    expect(res.status).toBe(401);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});

describe('password hashing', () => {
  it('hashes with scrypt and a random salt, and verifies', async () => {
    const a = await hashPassword('correct horse');
    const b = await hashPassword('correct horse');
    expect(a).toMatch(/^scrypt\$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('correct horse', a)).toBe(true);
    expect(await verifyPassword('correct horsf', a)).toBe(false);
    expect(await verifyPassword('x', 'plain-text')).toBe(false);
  });
});
