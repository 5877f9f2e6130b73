/**
 * Users of the gateway. Shared by the GraphQL login mutation, the REST /login route, the CLI's
 * `user create` and the local launcher's admin user.
 */
import { AppError, badInput, unauthenticated } from '../../common/errors.js';
import { type AuthUser, DUMMY_HASH, hashPassword, verifyPassword } from '../auth.js';
import type { Role, SubscriberDb } from '../db.js';
import type { LoginThrottle } from './login-throttle.js';

const USERNAME_RE = /^[A-Za-z0-9_.@-]{1,64}$/;
export const MIN_PASSWORD_LENGTH = 8;

function checkNew(username: string, password: string): void {
  if (!USERNAME_RE.test(username)) {
    throw badInput('Username must be 1-64 characters of letters, digits, "_", ".", "@" or "-"');
  }
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw badInput(`Password must be at least ${MIN_PASSWORD_LENGTH} characters`);
  }
}

export async function createUser(
  db: SubscriberDb,
  username: string,
  password: string,
  role: Role = 'user',
) {
  checkNew(username, password);
  const password_hash = await hashPassword(password);
  const row = await db
    .insertInto('app_user')
    .values({ username, password_hash, role })
    .onConflict((oc) => oc.column('username').doNothing())
    .returning(['id', 'username', 'role'])
    .executeTakeFirst();
  if (!row) throw new AppError('CONFLICT', `User "${username}" already exists`);
  return row;
}

export async function setPassword(db: SubscriberDb, username: string, password: string) {
  checkNew(username, password);
  const password_hash = await hashPassword(password);
  const row = await db
    .updateTable('app_user')
    .set({ password_hash })
    .where('username', '=', username)
    .returning(['id', 'username'])
    .executeTakeFirst();
  if (!row) throw new AppError('NOT_FOUND', `No user "${username}"`);
  return row;
}

export async function userExists(db: SubscriberDb, username: string): Promise<boolean> {
  const row = await db
    .selectFrom('app_user')
    .select('id')
    .where('username', '=', username)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * A login attempt from `address`: throttled, then checked. The same error for an unknown user and
 * a wrong password.
 */
export async function login(
  db: SubscriberDb,
  throttle: LoginThrottle,
  attempt: { username: unknown; password: unknown; address: string },
): Promise<AuthUser> {
  const { username, password, address } = attempt;
  const name = typeof username === 'string' ? username : '';
  throttle.begin(name, address);
  let user: AuthUser;
  try {
    user = await authenticate(db, username, password);
  } catch (e) {
    // Only a wrong password (or unknown user) counts against the throttle.
    if (!(e instanceof AppError && e.code === 'UNAUTHENTICATED')) throttle.undecided(name, address);
    throw e;
  }
  throttle.succeeded(name, address);
  return user;
}

/** Checks a username and password; the same error for an unknown user and a wrong password. */
export async function authenticate(
  db: SubscriberDb,
  username: unknown,
  password: unknown,
): Promise<AuthUser> {
  if (typeof username !== 'string' || typeof password !== 'string' || !username || !password) {
    throw badInput('Send "username" and "password" (form fields or JSON)');
  }
  const row = await db
    .selectFrom('app_user')
    .select(['id', 'username', 'password_hash', 'role'])
    .where('username', '=', username)
    .executeTakeFirst();
  const ok = await verifyPassword(password, row?.password_hash ?? DUMMY_HASH);
  if (!row || !ok) throw unauthenticated('Invalid username or password');
  return { id: row.id, username: row.username, role: row.role };
}
