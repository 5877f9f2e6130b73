/** `collector user …`: the gateway's users, written straight into the subscriber's app_user. */
import { type Command, Option } from 'commander';
import { createKysely } from '../../common/db.js';
import type { SubscriberDB } from '../../subscriber-graphql/db.js';
import { SESSION_CACHE_MS } from '../../subscriber-graphql/services/sessions.js';
import {
  createUser,
  DELETED_USER,
  deleteUser,
  disableUser,
  enableUser,
  listUsers,
  setPassword,
} from '../../subscriber-graphql/services/users.js';
import { generatePassword } from '../setup.js';
import { CliError, localAdminUrl, readStdin, withLocalHint } from './shared.js';

/** Said after each change that ends tokens: how soon a running gateway notices. */
const TOKENS_END = `Their tokens stop working within ${SESSION_CACHE_MS / 1000} s.`;

const DATABASE_URL_HELP =
  'subscriber database URL of a role that may write app_user (default: COLLECTOR_SUBSCRIBER_ADMIN_URL, else the running local collector of npm start, found by COLLECTOR_DATA_DIR and COLLECTOR_PG_PORT_BASE)';

export interface DatabaseOption {
  databaseUrl?: string;
}

/** `--database-url`, on every command that writes the subscriber. */
export function databaseUrlOption(): Option {
  return new Option('--database-url <url>', DATABASE_URL_HELP).env(
    'COLLECTOR_SUBSCRIBER_ADMIN_URL',
  );
}

/** Runs `work` on the subscriber named by the options, or on the local collector's. */
export async function withSubscriber<T>(
  opts: DatabaseOption,
  work: (db: ReturnType<typeof createKysely<SubscriberDB>>) => Promise<T>,
): Promise<T> {
  const local = !opts.databaseUrl;
  const url = opts.databaseUrl || (await localAdminUrl(0));
  const db = createKysely<SubscriberDB>(url, { max: 1, applicationName: 'collector-cli' });
  try {
    return await withLocalHint(local, () => work(db));
  } finally {
    await db.destroy();
  }
}

interface PasswordOptions extends DatabaseOption {
  passwordStdin?: boolean;
}

async function newPassword(opts: PasswordOptions): Promise<string> {
  return opts.passwordStdin ? await readStdin() : generatePassword();
}

export function registerUser(program: Command): void {
  const user = program
    .command('user')
    .description("Manage the gateway's users (stored on the subscriber).");

  user
    .command('create')
    .description('Create a gateway user.')
    .argument('<username>', '1 to 64 letters, digits, "_", ".", "@" or "-"')
    .option(
      '--admin',
      "the user is an admin: may also change and delete other users' annotations (default: a plain user, only their own)",
    )
    .addOption(databaseUrlOption())
    .option(
      '--password-stdin',
      'read the password from standard input (otherwise one is generated and printed)',
    )
    .action(async (username: string, opts: PasswordOptions & { admin?: boolean }) => {
      const password = await newPassword(opts);
      await withSubscriber(opts, (db) =>
        createUser(db, username, password, opts.admin ? 'admin' : 'user'),
      );
      console.log(`User "${username}" created${opts.admin ? ' (admin)' : ''}.`);
      if (!opts.passwordStdin) console.log(`Password: ${password}`);
    });

  user
    .command('set-password')
    .description("Set a gateway user's password.")
    .argument('<username>')
    .addOption(databaseUrlOption())
    .option(
      '--password-stdin',
      'read the password from standard input (otherwise one is generated and printed)',
    )
    .action(async (username: string, opts: PasswordOptions) => {
      const password = await newPassword(opts);
      await withSubscriber(opts, (db) => setPassword(db, username, password));
      console.log(
        `Password of "${username}" set. Earlier tokens stop working within ${SESSION_CACHE_MS / 1000} s.`,
      );
      if (!opts.passwordStdin) console.log(`Password: ${password}`);
    });

  user
    .command('disable')
    .description('Stop a user from logging in, and end every token of theirs.')
    .argument('<username>')
    .addOption(databaseUrlOption())
    .action(async (username: string, opts: DatabaseOption) => {
      await withSubscriber(opts, (db) => disableUser(db, username));
      console.log(`User "${username}" disabled. ${TOKENS_END}`);
    });

  user
    .command('enable')
    .description('Let a disabled user log in again (tokens ended by disable stay ended).')
    .argument('<username>')
    .addOption(databaseUrlOption())
    .action(async (username: string, opts: DatabaseOption) => {
      const changed = await withSubscriber(opts, (db) => enableUser(db, username));
      console.log(changed ? `User "${username}" enabled.` : `User "${username}" was not disabled.`);
    });

  user
    .command('delete')
    .description(
      `Delete a user and end their tokens. Their annotations stay, shown as written by "${DELETED_USER}".`,
    )
    .argument('<username>')
    .option('--yes', 'really delete (required: there is no undo)')
    .addOption(databaseUrlOption())
    .action(async (username: string, opts: DatabaseOption & { yes?: boolean }) => {
      if (!opts.yes) {
        throw new CliError(
          `deleting "${username}" cannot be undone: run again with --yes (or "collector user disable ${username}" to keep the account)`,
          2,
        );
      }
      const annotations = await withSubscriber(opts, (db) => deleteUser(db, username));
      console.log(
        `User "${username}" deleted; ${annotations} annotation(s) now show "${DELETED_USER}". ${TOKENS_END}`,
      );
    });

  user
    .command('list')
    .description('List the users: name, role, whether disabled, when created, annotations.')
    .option('--json', 'print a JSON array instead of a table')
    .addOption(databaseUrlOption())
    .action(async (opts: DatabaseOption & { json?: boolean }) => {
      const users = await withSubscriber(opts, (db) => listUsers(db));
      if (opts.json) {
        console.log(JSON.stringify(users, null, 2));
        return;
      }
      const rows = [
        ['USERNAME', 'ROLE', 'STATE', 'CREATED', 'ANNOTATIONS'],
        ...users.map((u) => [
          u.username,
          u.role,
          u.disabled ? 'disabled' : 'enabled',
          u.created.toISOString(),
          String(u.annotations),
        ]),
      ];
      const widths =
        rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
      for (const r of rows)
        console.log(
          r
            .map((c, i) => c.padEnd(widths[i] ?? 0))
            .join('  ')
            .trimEnd(),
        );
    });
}
