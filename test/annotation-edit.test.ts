/**
 * Changing and deleting annotations over real HTTP: the author may, an admin may, anyone else gets
 * FORBIDDEN (403) and nothing changes; an unknown id is NOT_FOUND (404). Roles travel in the token
 * and show in `me`.
 */
import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKysely } from '../common/db.js';
import { sqlDir } from '../common/paths.js';
import type { SubscriberDB } from '../subscriber-graphql/db.js';
import { createUser } from '../subscriber-graphql/services/users.js';
import {
  adminToken,
  collector,
  type GqlResponse,
  gql,
  http,
  replicatedDatum,
  uniqueTag,
  withClient,
} from './helpers.js';

const PASSWORD = 'a-long-password';
const BIG = '12345678901234567890';

interface AnnotationOut {
  id: string;
  body: unknown;
  author: string;
  createdAt: string;
  updatedAt: string;
}

const FIELDS = 'id body author createdAt updatedAt';
const UPDATE = `mutation($id: UUID!, $body: JSON!) { updateAnnotation(id: $id, body: $body) { ${FIELDS} } }`;
const DELETE = 'mutation($id: UUID!) { deleteAnnotation(id: $id) }';

/** Two plain users of this file's own: the author of annotations, and somebody else. */
const users = { author: '', other: '' };
const tokens = { author: '', other: '' };

async function login(username: string): Promise<string> {
  const res = await http<{ token: string }>(`${collector().gatewayUrl}/login`, {
    method: 'POST',
    json: { username, password: PASSWORD },
  });
  if (res.status !== 200) throw new Error(`login failed: ${res.text}`);
  return res.body.token;
}

beforeAll(async () => {
  const db = createKysely<SubscriberDB>(collector().subscriberAdminUrl, {
    applicationName: 'test',
  });
  try {
    for (const who of ['author', 'other'] as const) {
      users[who] = uniqueTag(who).slice(0, 40);
      await createUser(db, users[who], PASSWORD);
    }
  } finally {
    await db.destroy();
  }
  tokens.author = await login(users.author);
  tokens.other = await login(users.other);
});

async function annotate(token: string, body: unknown = { n: 1 }): Promise<AnnotationOut> {
  const dataId = await replicatedDatum({ tag: uniqueTag('edit') });
  const res = await gql<{ annotate: AnnotationOut }>(
    `mutation($id: UUID!, $body: JSON!) { annotate(dataId: $id, body: $body) { ${FIELDS} } }`,
    { id: dataId, body },
    token,
  );
  expect(res.body.errors).toBeUndefined();
  return res.body.data?.annotate as AnnotationOut;
}

/** The annotation as stored, read as the database's superuser: body as text, exact. */
async function stored(id: string) {
  return withClient(collector().subscriberAdminUrl, async (c) => {
    const { rows } = await c.query<{ body: string; updated_at: Date; data_id: string }>(
      'SELECT body::text AS body, updated_at, data_id FROM annotation WHERE id = $1',
      [id],
    );
    return rows[0];
  });
}

/** The ids of a datum's annotations, through the gateway. */
async function annotationIdsOf(dataId: string): Promise<string[]> {
  const res = await gql<{ datum: { annotations: Array<{ id: string }> } }>(
    'query($id: UUID!) { datum(id: $id) { annotations { id } } }',
    { id: dataId },
    await adminToken(),
  );
  expect(res.body.errors).toBeUndefined();
  return res.body.data?.datum.annotations.map((a) => a.id) ?? [];
}

function expectError(res: { status: number; body: GqlResponse }, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.body.errors?.[0]?.extensions?.code).toBe(code);
  expect(res.body.data ?? null).toBeNull();
}

describe('roles', () => {
  it('me { role } is ADMIN for admin and USER for a new user', async () => {
    const admin = await gql<{ me: { username: string; role: string } }>(
      '{ me { username role } }',
      {},
      await adminToken(),
    );
    expect(admin.body.data?.me).toEqual({ username: 'admin', role: 'ADMIN' });
    const user = await gql<{ me: { id: string; username: string; role: string } }>(
      '{ me { id username role } }',
      {},
      tokens.author,
    );
    expect(user.body.errors).toBeUndefined();
    expect(user.body.data?.me).toMatchObject({ username: users.author, role: 'USER' });
  });

  it('the token carries the role as a claim', async () => {
    expect(jwt.decode(tokens.author, { json: true })?.role).toBe('user');
    expect(jwt.decode(await adminToken(), { json: true })?.role).toBe('admin');
  });

  it('the role is read from the database, not the token; a token without a session is refused', async () => {
    const own = jwt.decode(tokens.author, { json: true }) as { sub: string; sv: number };
    const sign = (claims: Record<string, unknown>, subject: string = randomUUID()) =>
      jwt.sign({ username: 'admin', ...claims }, collector().jwtSecret, {
        algorithm: 'HS256',
        issuer: 'the-collector',
        audience: 'collector-graphql',
        subject,
        expiresIn: 60,
      });
    const claimsAdmin = await gql<{ me: { role: string } }>(
      '{ me { role } }',
      {},
      sign({ role: 'admin', sv: own.sv }, own.sub),
    );
    expect(claimsAdmin.body.data?.me.role).toBe('USER');
    // From before sessions (no "sv"): nothing could ever end it, so it is refused.
    const old = await gql('{ me { role } }', {}, sign({}, own.sub));
    expectError(old, 401, 'UNAUTHENTICATED');
  });
});

describe('migration 009 on an existing database', () => {
  // A database of its own, migrated by hand up to 008, with users, as before roles existed.
  const name = `roles_${randomUUID().replaceAll('-', '')}`;
  const url = collector().subscriberAdminUrl.replace(/\/[^/]*$/, `/${name}`);

  afterAll(() =>
    withClient(collector().subscriberAdminUrl, (c) =>
      c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
    ),
  );

  it('makes "admin" an admin and everyone else a plain user, and allows no other role', async () => {
    await withClient(collector().subscriberAdminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
    const dir = sqlDir('subscriber');
    const files = (await readdir(dir)).filter((f) => /^\d+_.*\.sql$/.test(f)).sort();
    const at = files.indexOf('009_user_role.sql');
    expect(at).toBeGreaterThan(0);
    await withClient(url, async (c) => {
      for (const f of files.slice(0, at)) await c.query(await readFile(`${dir}/${f}`, 'utf8'));
      await c.query(
        `INSERT INTO app_user (username, password_hash) VALUES ('admin', 'scrypt$x'), ('bob', 'scrypt$x')`,
      );
      await c.query(await readFile(`${dir}/${files[at]}`, 'utf8'));
      const { rows } = await c.query('SELECT username, role FROM app_user ORDER BY username');
      expect(rows).toEqual([
        { username: 'admin', role: 'admin' },
        { username: 'bob', role: 'user' },
      ]);
      await expect(
        c.query(
          `INSERT INTO app_user (username, password_hash, role) VALUES ('eve', 'scrypt$x', 'root')`,
        ),
      ).rejects.toThrow(/check constraint/);
    });
  });
});

describe('updateAnnotation', () => {
  it('lets the author change the body: updatedAt moves on, exact numbers stay exact', async () => {
    const before = await annotate(tokens.author);
    // Raw request text, so that the variable carries all 20 digits.
    const res = await http<GqlResponse<{ updateAnnotation: AnnotationOut }>>(
      `${collector().gatewayUrl}/graphql`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens.author}`, 'content-type': 'application/json' },
        body: JSON.stringify({ query: UPDATE, variables: { id: before.id, body: 'X' } }).replace(
          '"X"',
          `{"big":${BIG},"note":"edited"}`,
        ),
      },
    );
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    const after = res.body.data?.updateAnnotation as AnnotationOut;
    expect(after.id).toBe(before.id);
    expect(after.author).toBe(users.author);
    expect(after.createdAt).toBe(before.createdAt);
    expect(Date.parse(after.updatedAt)).toBeGreaterThan(Date.parse(before.updatedAt));
    expect(res.text).toContain(`"big": ${BIG}`);
    expect((await stored(before.id))?.body).toBe(`{"big": ${BIG}, "note": "edited"}`);
  });

  it("lets an admin change anyone's annotation", async () => {
    const before = await annotate(tokens.author);
    const res = await gql<{ updateAnnotation: AnnotationOut }>(
      UPDATE,
      { id: before.id, body: { by: 'admin' } },
      await adminToken(),
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data?.updateAnnotation).toMatchObject({
      id: before.id,
      body: { by: 'admin' },
      author: users.author,
    });
  });

  it('refuses anyone else with FORBIDDEN (403), and changes nothing', async () => {
    const before = await annotate(tokens.author, { n: 'original' });
    const was = await stored(before.id);
    const res = await gql(UPDATE, { id: before.id, body: { n: 'hijacked' } }, tokens.other);
    expectError(res, 403, 'FORBIDDEN');
    expect(await stored(before.id)).toEqual(was);
    expect(was?.body).toBe('{"n": "original"}');
  });

  it('answers an unknown id with NOT_FOUND (404), for an admin too', async () => {
    const res = await gql(UPDATE, { id: randomUUID(), body: 1 }, await adminToken());
    expectError(res, 404, 'NOT_FOUND');
  });

  it('refuses a body whose numbers would expand past the limit, like annotate', async () => {
    const before = await annotate(tokens.author);
    const res = await http<GqlResponse>(`${collector().gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.author}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: UPDATE, variables: { id: before.id, body: 'X' } }).replace(
        '"X"',
        `[${Array.from({ length: 100 }, () => '1e131071').join(',')}]`,
      ),
    });
    expectError(res, 400, 'BAD_USER_INPUT');
  });
});

describe('deleteAnnotation', () => {
  it('lets the author delete: gone from datum { annotations }, then NOT_FOUND', async () => {
    const a = await annotate(tokens.author);
    const dataId = (await stored(a.id))?.data_id as string;
    expect(await annotationIdsOf(dataId)).toEqual([a.id]);
    const res = await gql<{ deleteAnnotation: string }>(DELETE, { id: a.id }, tokens.author);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data?.deleteAnnotation).toBe(a.id);
    expect(await annotationIdsOf(dataId)).toEqual([]);
    expect(await stored(a.id)).toBeUndefined();
    expectError(await gql(DELETE, { id: a.id }, tokens.author), 404, 'NOT_FOUND');
  });

  it("lets an admin delete anyone's annotation", async () => {
    const a = await annotate(tokens.author);
    const res = await gql<{ deleteAnnotation: string }>(DELETE, { id: a.id }, await adminToken());
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data?.deleteAnnotation).toBe(a.id);
    expect(await stored(a.id)).toBeUndefined();
  });

  it('refuses anyone else with FORBIDDEN (403), and deletes nothing', async () => {
    const a = await annotate(tokens.author);
    const was = await stored(a.id);
    expectError(await gql(DELETE, { id: a.id }, tokens.other), 403, 'FORBIDDEN');
    expect(await stored(a.id)).toEqual(was);
  });

  it('answers an unknown id with NOT_FOUND (404)', async () => {
    expectError(await gql(DELETE, { id: randomUUID() }, await adminToken()), 404, 'NOT_FOUND');
  });

  it('needs a token, like every mutation', async () => {
    const a = await annotate(tokens.author);
    expectError(await gql(DELETE, { id: a.id }), 401, 'UNAUTHENTICATED');
    expectError(await gql(UPDATE, { id: a.id, body: 2 }), 401, 'UNAUTHENTICATED');
    expect(await stored(a.id)).toBeDefined();
  });
});
