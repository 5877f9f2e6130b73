/**
 * Users of the gateway. Shared by the GraphQL login mutation, the REST /login route, the CLI's
 * `user create` and the local launcher's admin user.
 */
import { sql } from 'kysely';
import { AppError, badInput, notFound, unauthenticated } from '../../common/errors.js';
import { DUMMY_HASH, hashPassword, type SessionUser, verifyPassword } from '../auth.js';
import type { Role, SubscriberDb } from '../db.js';
import type { LoginThrottle } from './login-throttle.js';

/** What `author` reads on the annotations of a deleted user (set by a trigger, sql/subscriber/021_user_sessions.sql). */
export const DELETED_USER = 'deleted user';

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

/** Sets a password and ends every session of the user: their earlier tokens stop working. */
export async function setPassword(db: SubscriberDb, username: string, password: string) {
  checkNew(username, password);
  const password_hash = await hashPassword(password);
  const row = await db
    .updateTable('app_user')
    .set((eb) => ({ password_hash, session_version: eb('session_version', '+', 1) }))
    .where('username', '=', username)
    .returning(['id', 'username'])
    .executeTakeFirst();
  if (!row) throw new AppError('NOT_FOUND', `No user "${username}"`);
  return row;
}

/** Whether `password` is the user's current one (false for an unknown user). */
export async function passwordIs(
  db: SubscriberDb,
  username: string,
  password: string,
): Promise<boolean> {
  const row = await db
    .selectFrom('app_user')
    .select('password_hash')
    .where('username', '=', username)
    .executeTakeFirst();
  return row !== undefined && (await verifyPassword(password, row.password_hash));
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
): Promise<SessionUser> {
  const { username, password, address } = attempt;
  const name = typeof username === 'string' ? username : '';
  throttle.begin(name, address);
  let user: SessionUser;
  try {
    // The hash waits its turn in this address's queue: one address's flood cannot starve others.
    user = await authenticate(db, username, password, (work) => throttle.hashing(address, work));
  } catch (e) {
    // Only a wrong password (or unknown user) counts against the throttle.
    if (!(e instanceof AppError && e.code === 'UNAUTHENTICATED')) throttle.undecided(name, address);
    throw e;
  }
  throttle.succeeded(name, address);
  return user;
}

/**
 * Checks a username and password. An unknown user, a wrong password and a disabled account all
 * get the same error after the same work, so a login never reveals which accounts exist or are
 * disabled. `slot` runs the password hash (the login throttle's fair queue).
 */
export async function authenticate(
  db: SubscriberDb,
  username: unknown,
  password: unknown,
  slot: <T>(work: () => Promise<T>) => Promise<T> = (work) => work(),
): Promise<SessionUser> {
  if (typeof username !== 'string' || typeof password !== 'string' || !username || !password) {
    throw badInput('Send "username" and "password" (form fields or JSON)');
  }
  const row = await db
    .selectFrom('app_user')
    .select([
      'id',
      'username',
      'password_hash',
      'role',
      'session_version as sessionVersion',
      'disabled',
    ])
    .where('username', '=', username)
    .executeTakeFirst();
  const ok = await slot(() => verifyPassword(password, row?.password_hash ?? DUMMY_HASH));
  if (!row || !ok || row.disabled) throw unauthenticated('Invalid username or password');
  return { id: row.id, username: row.username, role: row.role, sessionVersion: row.sessionVersion };
}

export interface UserListing {
  username: string;
  role: Role;
  disabled: boolean;
  created: Date;
  annotations: number;
}

/** Every user, by name, with how many annotations each wrote. */
export async function listUsers(db: SubscriberDb): Promise<UserListing[]> {
  return db
    .selectFrom('app_user as u')
    .select((eb) => [
      'u.username',
      'u.role',
      'u.disabled',
      'u.created_at as created',
      eb
        .selectFrom('annotation as a')
        .select(sql<number>`count(*)::int`.as('n'))
        .whereRef('a.author_id', '=', 'u.id')
        .as('annotations'),
    ])
    .orderBy('u.username')
    .execute() as Promise<UserListing[]>;
}

/**
 * Refuses a change that would leave no enabled admin, who alone may fix others' annotations (and
 * whom `npm start` logs in as). The admins' rows stay locked until the caller's transaction ends,
 * so two such changes at once cannot both pass.
 */
async function keepAnAdmin(db: SubscriberDb, username: string, what: string): Promise<void> {
  const admins = await db
    .selectFrom('app_user')
    .select('username')
    .where('role', '=', 'admin')
    .where('disabled', '=', false)
    .forUpdate()
    .execute();
  if (admins.length === 1 && admins[0]?.username === username) {
    throw new AppError(
      'CONFLICT',
      `"${username}" is the last enabled admin: create another (collector user create <name> --admin) before you ${what} this one`,
    );
  }
}

/** Disables a user: no more logins, and every token of theirs stops working. */
export async function disableUser(db: SubscriberDb, username: string): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await keepAnAdmin(tx, username, 'disable');
    const row = await tx
      .updateTable('app_user')
      .set((eb) => ({ disabled: true, session_version: eb('session_version', '+', 1) }))
      .where('username', '=', username)
      .returning('id')
      .executeTakeFirst();
    if (!row) throw notFound(`No user "${username}"`);
  });
}

/**
 * Lets a disabled user log in again (their old tokens stay ended). The session version moves on
 * too, so that a gateway still caching "disabled" sees a new login's token as newer and asks again.
 * An enabled user is left as is (their tokens keep working). Returns whether anything changed.
 */
export async function enableUser(db: SubscriberDb, username: string): Promise<boolean> {
  const row = await db
    .updateTable('app_user')
    .set((eb) => ({ disabled: false, session_version: eb('session_version', '+', 1) }))
    .where('username', '=', username)
    .where('disabled', '=', true)
    .returning('id')
    .executeTakeFirst();
  if (row) return true;
  if (!(await userExists(db, username))) throw notFound(`No user "${username}"`);
  return false;
}

/**
 * Deletes a user. Their annotations stay, with author_id NULL and `author` "deleted user" (the
 * foreign key's ON DELETE SET NULL, and the trigger it fires, in the same statement). Returns how
 * many annotations that was.
 */
export async function deleteUser(db: SubscriberDb, username: string): Promise<number> {
  return db.transaction().execute(async (tx) => {
    await keepAnAdmin(tx, username, 'delete');
    const row = await tx
      .deleteFrom('app_user')
      .where('username', '=', username)
      .returning((eb) =>
        eb
          .selectFrom('annotation')
          .select(sql<number>`count(*)::int`.as('n'))
          .whereRef('annotation.author_id', '=', 'app_user.id')
          .as('annotations'),
      )
      .executeTakeFirst();
    if (!row) throw notFound(`No user "${username}"`);
    return row.annotations ?? 0;
  });
}
