/**
 * Tokens follow their user's current state, over real HTTP and the real CLI: a password change,
 * `user disable`, `user delete` and the `logout` mutation end every earlier token; a username
 * deleted and created again is another user; a deleted user's annotations stay, as "deleted user".
 * Changes made by the CLI reach the (separate) gateway process within SESSION_CACHE_MS.
 */
import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAdmin } from '../collector/setup.js';
import { createKysely } from '../common/db.js';
import { toAppError } from '../common/errors.js';
import { migrate } from '../common/migrate.js';
import type { SubscriberDB, SubscriberDb } from '../subscriber-graphql/db.js';
import { annotate } from '../subscriber-graphql/services/annotations.js';
import { SESSION_CACHE_MS } from '../subscriber-graphql/services/sessions.js';
import {
  createUser,
  DELETED_USER,
  deleteUser,
  disableUser,
} from '../subscriber-graphql/services/users.js';
import { runCli } from './cli-process.js';
import { adminToken, collector, gql, http, replicatedDatum, uniqueTag } from './helpers.js';

const PASSWORD = 'a-long-password';
const NO_LONGER_VALID = /Token no longer valid: sign in again/;

let db: SubscriberDb;
beforeAll(() => {
  db = createKysely<SubscriberDB>(collector().subscriberAdminUrl, { applicationName: 'test' });
});
afterAll(() => db.destroy());

const newName = (prefix: string) => uniqueTag(prefix).slice(0, 40);

async function newUser(prefix = 'u'): Promise<string> {
  const name = newName(prefix);
  await createUser(db, name, PASSWORD);
  return name;
}

async function login(username: string, password = PASSWORD) {
  return http<{ token: string; error?: { code: string; message: string } }>(
    `${collector().gatewayUrl}/login`,
    { method: 'POST', json: { username, password } },
  );
}

async function token(username: string, password = PASSWORD): Promise<string> {
  const res = await login(username, password);
  if (res.status !== 200) throw new Error(`login failed: ${res.text}`);
  return res.body.token;
}

const me = (t: string) =>
  gql<{ me: { id: string; username: string } }>('{ me { id username } }', {}, t);

async function expectWorks(t: string, username: string): Promise<void> {
  const res = await me(t);
  expect(res.body.errors).toBeUndefined();
  expect(res.body.data?.me.username).toBe(username);
}

async function expectEnded(t: string): Promise<void> {
  const res = await me(t);
  expect(res.status).toBe(401);
  expect(res.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  expect(res.body.errors?.[0]?.message).toMatch(NO_LONGER_VALID);
}

/** Past the gateway's session cache: a change made elsewhere (the CLI) has taken effect. */
const pastTheBound = () => new Promise((r) => setTimeout(r, SESSION_CACHE_MS + 300));

const cli = (args: string[], input?: string) =>
  runCli([...args, '--database-url', collector().subscriberAdminUrl], { input });

const ANNOTATE =
  'mutation($id: UUID!, $body: JSON!) { annotate(dataId: $id, body: $body) { id author } }';
const UPDATE = 'mutation($id: UUID!) { updateAnnotation(id: $id, body: 2) { id } }';

describe('tokens end with their session', () => {
  it('a password change (user set-password) ends every earlier token, within the bound', async () => {
    const name = await newUser();
    const old = await token(name);
    await expectWorks(old, name);
    const set = await cli(['user', 'set-password', name, '--password-stdin'], 'another-password');
    expect(set.code).toBe(0);
    expect(set.stdout).toContain('stop working within 2 s');
    await pastTheBound();
    await expectEnded(old);
    await expectWorks(await token(name, 'another-password'), name);
  });

  it('user disable ends tokens and logins (the generic message); enable restores login', async () => {
    const name = await newUser();
    const old = await token(name);
    await expectWorks(old, name);
    const disabled = await cli(['user', 'disable', name]);
    expect(disabled.stderr).toBe('');
    expect(disabled.code).toBe(0);
    await pastTheBound();
    await expectEnded(old);
    // The same answer as a wrong password: a login does not tell disabled accounts apart.
    const refused = await login(name);
    expect(refused.status).toBe(401);
    expect(refused.body.error?.message).toBe('Invalid username or password');

    expect((await cli(['user', 'enable', name])).code).toBe(0);
    const again = await token(name);
    await expectWorks(again, name);
    // Enabling does not bring back the tokens that disable ended.
    await expectEnded(old);
    // Enabling an enabled user changes nothing: their tokens keep working.
    const twice = await cli(['user', 'enable', name]);
    expect(twice.code).toBe(0);
    expect(twice.stdout).toContain('was not disabled');
    await pastTheBound();
    await expectWorks(again, name);
    expect((await cli(['user', 'enable', newName('nobody')])).code).toBe(1);
  });

  it('logout ends this token and every other token of the user at once', async () => {
    const name = await newUser();
    const a = await token(name);
    const b = await token(name);
    await expectWorks(a, name);
    await expectWorks(b, name);
    const out = await gql<{ logout: boolean }>('mutation { logout }', {}, a);
    expect(out.body.errors).toBeUndefined();
    expect(out.body.data?.logout).toBe(true);
    // Through the same gateway: no waiting for the cache.
    await expectEnded(a);
    await expectEnded(b);
    const again = await gql('mutation { logout }', {}, a);
    expect(again.status).toBe(401);
    await expectWorks(await token(name), name);
  });

  it('needs a token to log out', async () => {
    const res = await gql('mutation { logout }');
    expect(res.status).toBe(401);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('a token for a user id that never existed is refused', async () => {
    const forged = jwt.sign({ sv: 1 }, collector().jwtSecret, {
      algorithm: 'HS256',
      issuer: 'the-collector',
      audience: 'collector-graphql',
      subject: '00000000-0000-4000-8000-00000000abcd',
      expiresIn: 60,
    });
    await expectEnded(forged);
  });
});

describe('user delete', () => {
  it('keeps the annotations as "deleted user"; an old token of a re-created name is refused', async () => {
    const name = await newUser('del');
    const old = await token(name);
    const dataId = await replicatedDatum({ tag: uniqueTag('del') });
    const made = await gql<{ annotate: { id: string; author: string } }>(
      ANNOTATE,
      { id: dataId, body: { n: 1 } },
      old,
    );
    expect(made.body.errors).toBeUndefined();
    expect(made.body.data?.annotate.author).toBe(name);
    const annotationId = made.body.data?.annotate.id as string;

    const unconfirmed = await cli(['user', 'delete', name]);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toContain('--yes');
    const deleted = await cli(['user', 'delete', name, '--yes']);
    expect(deleted.stderr).toBe('');
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toContain('1 annotation(s) now show "deleted user"');
    await pastTheBound();
    await expectEnded(old);

    const read = await gql<{ datum: { annotations: Array<{ id: string; author: string }> } }>(
      'query($id: UUID!) { datum(id: $id) { annotations { id author } } }',
      { id: dataId },
      await adminToken(),
    );
    expect(read.body.data?.datum.annotations).toEqual([{ id: annotationId, author: DELETED_USER }]);

    // The same name again: a new user, whom the old token does not reach.
    await createUser(db, name, PASSWORD);
    await expectEnded(old);
    const byOld = await gql(ANNOTATE, { id: dataId, body: { n: 2 } }, old);
    expect(byOld.status).toBe(401);
    const fresh = await token(name);
    await expectWorks(fresh, name);
    // Nor may the new owner of the name edit what the deleted user wrote.
    const edit = await gql(UPDATE, { id: annotationId }, fresh);
    expect(edit.status).toBe(403);
    expect(edit.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('says so for an unknown user', async () => {
    const res = await cli(['user', 'delete', newName('nobody'), '--yes']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/No user "nobody-/);
  });
});

describe('authorship by user id', () => {
  it('survives username games: a rename keeps it the author’s, the old name gives no rights', async () => {
    const name = await newUser('ren');
    const other = await newUser('oth');
    const t = await token(name);
    const dataId = await replicatedDatum({ tag: uniqueTag('ren') });
    const made = await gql<{ annotate: { id: string } }>(ANNOTATE, { id: dataId, body: 1 }, t);
    const id = made.body.data?.annotate.id as string;
    // The author takes another name, and someone else takes the author's old one.
    const renamed = newName('ren2');
    await db
      .updateTable('app_user')
      .set({ username: renamed })
      .where('username', '=', name)
      .execute();
    await db
      .updateTable('app_user')
      .set({ username: name })
      .where('username', '=', other)
      .execute();
    // At once, while the gateway may still know the author by the old name: the edit is theirs,
    // because it is checked by user id.
    const ok = await gql(UPDATE, { id }, t);
    expect(ok.body.errors).toBeUndefined();
    const author = await db
      .selectFrom('annotation')
      .select('author')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(author.author).toBe(renamed);
    // Whoever holds the old name now may not touch it.
    const impostor = await token(name);
    const refused = await gql(UPDATE, { id }, impostor);
    expect(refused.status).toBe(403);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('a user deleted between the session check and the insert', () => {
  it('annotate answers UNAUTHENTICATED, not a foreign-key error', async () => {
    const dataId = await replicatedDatum({ tag: uniqueTag('race') });
    const error = await annotate(db, { dataId, body: 1, authorId: randomUUID() }).catch((e) => e);
    expect(toAppError(error)?.code).toBe('UNAUTHENTICATED');
    expect(toAppError(error)?.message).toMatch(NO_LONGER_VALID);
  });
});

describe('user list', () => {
  it('shows role, state and annotation counts, as a table or as JSON', async () => {
    const name = await newUser('lst');
    await disableUser(db, name);
    const table = await cli(['user', 'list']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^USERNAME\s+ROLE\s+STATE\s+CREATED\s+ANNOTATIONS$/m);
    expect(table.stdout).toMatch(new RegExp(`^${name}\\s+user\\s+disabled\\s+\\S+\\s+0$`, 'm'));

    const json = await cli(['user', 'list', '--json']);
    expect(json.code).toBe(0);
    const users = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    expect(users.find((u) => u.username === name)).toMatchObject({
      role: 'user',
      disabled: true,
      annotations: 0,
    });
    expect(users.find((u) => u.username === 'admin')).toMatchObject({
      role: 'admin',
      disabled: false,
    });
    expect(typeof users[0]?.created).toBe('string');
  });
});

describe('the last admin', () => {
  // A database of its own, so that no other test's admins count.
  const dbName = `last_admin_${Date.now()}`;
  let own: SubscriberDb;
  let ownUrl: string;
  beforeAll(async () => {
    await sql.raw(`CREATE DATABASE ${dbName}`).execute(db);
    const url = new URL(collector().subscriberAdminUrl);
    url.pathname = `/${dbName}`;
    ownUrl = url.toString();
    own = createKysely<SubscriberDB>(ownUrl, { applicationName: 'test' });
    await migrate(own as never, 'subscriber');
  });
  afterAll(async () => {
    await own?.destroy();
    await sql.raw(`DROP DATABASE IF EXISTS ${dbName}`).execute(db);
  });

  it('cannot be disabled or deleted; once another admin exists, it can', async () => {
    await createUser(own, 'root', PASSWORD, 'admin');
    await expect(deleteUser(own, 'root')).rejects.toThrow(/last enabled admin/);
    await expect(disableUser(own, 'root')).rejects.toThrow(/last enabled admin/);
    await createUser(own, 'root2', PASSWORD, 'admin');
    await disableUser(own, 'root2');
    // A disabled admin does not count.
    await expect(deleteUser(own, 'root')).rejects.toThrow(/last enabled admin/);
    await createUser(own, 'root3', PASSWORD, 'admin');
    expect(await deleteUser(own, 'root')).toBe(0);
  });

  it("setup's admin password: the same one again keeps admin's tokens, a new one ends them", async () => {
    const version = async () =>
      (
        await own
          .selectFrom('app_user')
          .select('session_version')
          .where('username', '=', 'admin')
          .executeTakeFirstOrThrow()
      ).session_version;
    expect(await ensureAdmin(ownUrl, PASSWORD)).toBeUndefined();
    const first = await version();
    await ensureAdmin(ownUrl, PASSWORD);
    expect(await version()).toBe(first);
    await ensureAdmin(ownUrl, 'another-password');
    expect(await version()).toBe(first + 1);
  });
});
