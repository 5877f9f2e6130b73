/** `collector user …`: the gateway's users, written straight into the subscriber's app_user. */
import { type Command, Option } from 'commander';
import { createKysely } from '../../common/db.js';
import type { SubscriberDB } from '../../subscriber-graphql/db.js';
import { createUser, setPassword } from '../../subscriber-graphql/services/users.js';
import { generatePassword } from '../setup.js';
import { localAdminUrl, readStdin, withLocalHint } from './shared.js';

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
      console.log(`Password of "${username}" set.`);
      if (!opts.passwordStdin) console.log(`Password: ${password}`);
    });
}
