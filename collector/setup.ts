/**
 * Wires a collector: schema on every publisher and on the subscriber, passwords for the
 * least-privilege roles, each publisher's name as its database default, one subscription per
 * publisher, and the `admin` user. Idempotent: running it again on a set-up collector changes
 * nothing but passwords and connection strings that changed. Used by `npm start` (embedded
 * clusters) and by `collector setup` (compose.yaml's one-shot service, real hosts).
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { createKysely } from '../common/db.js';
import { migrate } from '../common/migrate.js';
import type { SubscriberDB } from '../subscriber-graphql/db.js';
import {
  createUser,
  passwordIs,
  setPassword,
  userExists,
} from '../subscriber-graphql/services/users.js';
import { disabledByError } from './fleet.js';

export interface PublisherTarget {
  /** Stamped on every row this publisher stores. */
  name: string;
  /** A superuser (or owner) URL of the publisher's database. */
  adminUrl: string;
  /**
   * How the subscriber's server reaches this publisher, if not the host and port of `adminUrl`
   * (with compose they are the same service name).
   */
  replicationHost?: string;
  replicationPort?: number;
}

export interface RolePasswords {
  publisherApi: string;
  replicator: string;
  /**
   * collector_lag on each publisher, the gateway fleet monitor's login there
   * (sql/publisher/013_lag_monitor.sql). Unset: that role keeps NOLOGIN.
   */
  lag?: string;
  gateway: string;
}

/**
 * TLS of the subscriptions' connections to the publishers, over what the admin URLs say. The CA
 * file is read by the subscriber's PostgreSQL server, so the path is one on that server.
 */
export interface ReplicationTls {
  sslmode?: string;
  sslrootcert?: string;
}

export interface SetupOptions {
  subscriberAdminUrl: string;
  publishers: PublisherTarget[];
  passwords: RolePasswords;
  replicationTls?: ReplicationTls;
  progress?: (message: string) => void;
}

export const PUBLISHER_NAME_RE = /^[a-z][a-z0-9_]{0,39}$/;
export const PUBLICATION = 'collector_pub';
/** Every subscription's options (the reasons are at ensureSubscription). */
export const SUBSCRIPTION_OPTIONS = 'disable_on_error = true';

export function subscriptionName(publisher: string): string {
  return `collector_${publisher}`;
}

export function generatePassword(): string {
  return randomBytes(24).toString('base64url');
}

/** libpq conninfo value quoting: single quotes, with \ and ' escaped. */
function conninfoValue(v: string): string {
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

const LIBPQ_SSL_KEYS = new Set([
  'sslmode',
  'sslrootcert',
  'sslcert',
  'sslkey',
  'sslcrl',
  'sslcrldir',
  'sslsni',
  'sslcompression',
  'sslnegotiation',
  'sslcertmode',
  'ssl_min_protocol_version',
  'ssl_max_protocol_version',
]);

export function replicationConninfo(
  p: PublisherTarget,
  password: string,
  tls: ReplicationTls = {},
): string {
  const url = new URL(p.adminUrl);
  const parts: Record<string, string> = {
    // URL hosts keep IPv6 brackets ([::1]); libpq wants them bare.
    host: p.replicationHost ?? url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: String(p.replicationPort ?? (url.port || 5432)),
    dbname: decodeURIComponent(url.pathname.replace(/^\//, '')) || 'postgres',
    user: 'collector_replicator',
    password,
  };
  // TLS settings of the admin URL apply to replication too, as libpq understands them (file
  // paths are read on the subscriber's server). node-postgres spellings are translated.
  for (const [key, value] of url.searchParams) {
    if (LIBPQ_SSL_KEYS.has(key))
      parts[key] = key === 'sslmode' && value === 'no-verify' ? 'require' : value;
    else if (
      key === 'ssl' &&
      value !== 'false' &&
      value !== '0' &&
      !url.searchParams.has('sslmode')
    ) {
      parts.sslmode = 'require';
    }
  }
  // A CA given to setup means "check who you talk to": verify-full unless told otherwise.
  if (tls.sslrootcert) {
    parts.sslrootcert = tls.sslrootcert;
    parts.sslmode = tls.sslmode ?? 'verify-full';
  } else if (tls.sslmode) {
    parts.sslmode = tls.sslmode;
  }
  return Object.entries(parts)
    .map(([k, v]) => `${k}=${conninfoValue(v)}`)
    .join(' ');
}

/**
 * Setup's sessions never log statements, not even failing or slow ones: CREATE/ALTER SUBSCRIPTION
 * carry the replication password. These settings need a superuser at connect time, as setup does
 * anyway (CREATE SUBSCRIPTION with connection passwords, role passwords).
 */
const NO_STATEMENT_LOGGING =
  '-c log_statement=none -c log_min_error_statement=panic -c log_min_duration_statement=-1';

async function withDb<DB, T>(url: string, fn: (db: Kysely<DB>) => Promise<T>): Promise<T> {
  const db = createKysely<DB>(url, {
    max: 2,
    applicationName: 'collector-setup',
    options: NO_STATEMENT_LOGGING,
  });
  try {
    return await fn(db);
  } finally {
    await db.destroy();
  }
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL would store for `password` (RFC 5802 / RFC 7677): the
 * server gets only this, never the password itself.
 */
export function scramVerifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const hmac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest();
  const storedKey = createHash('sha256').update(hmac(salted, 'Client Key')).digest();
  const serverKey = hmac(salted, 'Server Key');
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

async function setRolePassword(db: Kysely<unknown>, role: string, password: string) {
  const verifier = scramVerifier(password);
  await sql
    .raw(
      `ALTER ROLE ${pg.escapeIdentifier(role)} WITH LOGIN PASSWORD ${pg.escapeLiteral(verifier)}`,
    )
    .execute(db);
}

/** The databases every cluster has besides ours, which PUBLIC may connect to by default. */
const MAINTENANCE_DATABASES = ['postgres', 'template1'];

/**
 * By default PUBLIC may connect to every database and create TEMP tables there. Migrations revoke
 * that on the collector's database only (they run inside it); here the same goes for `postgres`
 * and `template1`, from a session in the collector's database (a database's privileges can be
 * changed from any database of its cluster). Only a superuser or the databases' owner may: if
 * setup's role is neither (a managed service), the REVOKE only warns, and so does setup.
 */
async function closeMaintenanceDatabases(
  db: Kysely<unknown>,
  where: string,
  say: (message: string) => void,
): Promise<void> {
  const { rows } = await sql<{ datname: string }>`
    SELECT datname FROM pg_database WHERE datname = ANY(${MAINTENANCE_DATABASES})`.execute(db);
  for (const { datname } of rows) {
    await sql
      .raw(`REVOKE CONNECT, TEMPORARY ON DATABASE ${pg.escapeIdentifier(datname)} FROM PUBLIC`)
      .execute(db);
  }
  const open = await sql<{ datname: string }>`
    SELECT datname FROM pg_database WHERE datname = ANY(${MAINTENANCE_DATABASES})
       AND (has_database_privilege('public', oid, 'CONNECT')
            OR has_database_privilege('public', oid, 'TEMPORARY'))`.execute(db);
  if (open.rows.length > 0) {
    const names = open.rows.map((r) => r.datname).join(', ');
    say(
      `warning: on ${where}, every role may still connect to ${names}: setup's role could not ` +
        `revoke it. As a superuser, run: REVOKE CONNECT, TEMPORARY ON DATABASE ${names} FROM PUBLIC;`,
    );
  }
}

/**
 * A replication slot whose subscriber is gone keeps WAL forever unless max_slot_wal_keep_size
 * bounds it. The embedded clusters set it; on a real host it is the operator's postgresql.conf.
 */
async function checkSlotWalBound(
  db: Kysely<unknown>,
  where: string,
  say: (message: string) => void,
): Promise<void> {
  const { rows } = await sql<{ setting: string }>`
    SELECT setting FROM pg_settings WHERE name = 'max_slot_wal_keep_size'`.execute(db);
  if (rows[0]?.setting === '-1') {
    say(
      `warning: ${where} has max_slot_wal_keep_size = -1: a subscriber that stays away keeps WAL ` +
        'there until the disk is full. Set a bound in its postgresql.conf (README, "Database roles").',
    );
  }
}

async function setupPublisher(
  p: PublisherTarget,
  passwords: Pick<RolePasswords, 'publisherApi' | 'replicator' | 'lag'>,
  say: (message: string) => void,
): Promise<void> {
  await withDb(p.adminUrl, async (db) => {
    await migrate(db, 'publisher');
    await closeMaintenanceDatabases(db, `publisher ${p.name}`, say);
    await checkSlotWalBound(db, `publisher ${p.name}`, say);
    await setRolePassword(db, 'collector_publisher_api', passwords.publisherApi);
    await setRolePassword(db, 'collector_replicator', passwords.replicator);
    if (passwords.lag) await setRolePassword(db, 'collector_lag', passwords.lag);
    // The publisher's name is a database default; the API's role cannot insert this column.
    await sql
      .raw(`ALTER TABLE data ALTER COLUMN publisher SET DEFAULT ${pg.escapeLiteral(p.name)}`)
      .execute(db);
  });
}

async function ensureSubscription(
  db: Kysely<unknown>,
  p: PublisherTarget,
  password: string,
  tls?: ReplicationTls,
): Promise<'created' | 'updated' | 'unchanged'> {
  const name = subscriptionName(p.name);
  const conninfo = replicationConninfo(p, password, tls);
  const { rows } = await sql<{
    subconninfo: string;
    subenabled: boolean;
    subdisableonerr: boolean;
  }>`
    SELECT subconninfo, subenabled, subdisableonerr FROM pg_subscription
    WHERE subname = ${name}
      AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`.execute(db);
  const ident = pg.escapeIdentifier(name);
  const existing = rows[0];
  if (!existing) {
    try {
      // CREATE SUBSCRIPTION cannot run inside a transaction block, nor share a query string with
      // other statements: it is sent alone, on a pooled connection in autocommit mode.
      // disable_on_error: a conflict stops the subscription cleanly and visibly (`collector
      // publishers status`: stopped by error) instead of failing again every
      // wal_retrieve_retry_interval; `publishers resume [--skip-failed-transaction]` restarts it.
      // On PostgreSQL 18 a broken stream (the publisher restarted) disables it too: the gateway's
      // fleet monitor re-enables those (sql/subscriber/024_monitor_reenable.sql), and `publishers
      // add` while it waits for the initial copy.
      await sql
        .raw(
          `CREATE SUBSCRIPTION ${ident} CONNECTION ${pg.escapeLiteral(conninfo)} PUBLICATION ${PUBLICATION} WITH (${SUBSCRIPTION_OPTIONS})`,
        )
        .execute(db);
    } catch (e) {
      if (/replication slot .* already exists/.test((e as Error).message)) {
        throw new Error(
          `Publisher ${p.name} already has a replication slot "${name}" from an earlier subscriber. ` +
            `If that subscriber is gone, drop the slot on the publisher with ` +
            `SELECT pg_drop_replication_slot('${name}'); and run setup again.`,
        );
      }
      throw e;
    }
    return 'created';
  }
  let changed = false;
  if (existing.subconninfo !== conninfo) {
    await sql
      .raw(`ALTER SUBSCRIPTION ${ident} CONNECTION ${pg.escapeLiteral(conninfo)}`)
      .execute(db);
    changed = true;
  }
  if (!existing.subdisableonerr) {
    // Subscriptions created before disable_on_error was set get it here.
    await sql.raw(`ALTER SUBSCRIPTION ${ident} SET (disable_on_error = true)`).execute(db);
    changed = true;
  }
  if (!existing.subenabled) {
    await sql.raw(`ALTER SUBSCRIPTION ${ident} ENABLE`).execute(db);
    changed = true;
  }
  return changed ? 'updated' : 'unchanged';
}

/** Why a publisher cannot be added (or set up): a message that says what to do. */
export class PublisherRefused extends Error {}

function checkName(name: string): void {
  if (!PUBLISHER_NAME_RE.test(name)) {
    throw new PublisherRefused(
      `Publisher name "${name}" is invalid: use lowercase letters, digits and "_", starting with a letter (at most 40 characters)`,
    );
  }
}

/** host, port and dbname of a libpq conninfo (key='value' pairs, as replicationConninfo writes). */
export function conninfoTarget(conninfo: string): { host: string; port: string; dbname: string } {
  const values: Record<string, string> = {};
  const re = /\s*([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S+))/gy;
  for (let m = re.exec(conninfo); m; m = re.exec(conninfo)) {
    values[m[1] as string] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
  }
  return { host: values.host ?? '', port: values.port ?? '5432', dbname: values.dbname ?? '' };
}

const sameTarget = (a: string, b: string) => {
  const [x, y] = [conninfoTarget(a), conninfoTarget(b)];
  return x.host === y.host && x.port === y.port && x.dbname === y.dbname;
};
const describeTarget = (conninfo: string) => {
  const t = conninfoTarget(conninfo);
  return `${t.host}:${t.port}/${t.dbname}`;
};

/**
 * What must hold on a publisher before it joins: wal_level = logical (else no slot can be
 * created), a free replication slot and WAL sender, and a data table that is not already stamped
 * with another publisher's name (the same database added twice would send every row twice).
 */
async function checkPublisher(p: PublisherTarget): Promise<void> {
  await withDb(p.adminUrl, async (db) => {
    let settings: { rows: Array<{ name: string; setting: string }> };
    try {
      settings = await sql<{ name: string; setting: string }>`
        SELECT name, setting FROM pg_settings
         WHERE name IN ('wal_level', 'max_replication_slots', 'max_wal_senders')`.execute(db);
    } catch (e) {
      const url = new URL(p.adminUrl);
      throw new PublisherRefused(
        `cannot connect to publisher ${p.name} at ${url.host}${url.pathname}: ${(e as Error).message}. ` +
          'Check the URL, that its PostgreSQL listens there (listen_addresses), its pg_hba.conf and the firewall.',
      );
    }
    const get = (name: string) => settings.rows.find((r) => r.name === name)?.setting;
    if (get('wal_level') !== 'logical') {
      throw new PublisherRefused(
        `publisher ${p.name} has wal_level = ${get('wal_level')}: logical replication needs ` +
          'wal_level = logical. Set it in its postgresql.conf (or run ALTER SYSTEM SET wal_level = logical), ' +
          'restart that PostgreSQL server, then run this command again.',
      );
    }
    const slots = await sql<{ used: number }>`
      SELECT count(*)::int AS used FROM pg_replication_slots
       WHERE slot_name <> ${subscriptionName(p.name)}`.execute(db);
    if ((slots.rows[0]?.used ?? 0) >= Number(get('max_replication_slots') ?? 0)) {
      throw new PublisherRefused(
        `publisher ${p.name} has no free replication slot (max_replication_slots = ${get('max_replication_slots')}, all used): raise it in its postgresql.conf and restart it.`,
      );
    }
    const stamp = await sql<{ name: string | null }>`
      SELECT pg_get_expr(d.adbin, d.adrelid) AS name
        FROM pg_attrdef d
        JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
       WHERE d.adrelid = to_regclass('data') AND a.attname = 'publisher'`.execute(db);
    const stamped = /^'((?:[^']|'')*)'::text$/.exec(stamp.rows[0]?.name ?? '')?.[1];
    if (stamped !== undefined && stamped.replace(/''/g, "'") !== p.name) {
      throw new PublisherRefused(
        `this database already stamps its rows as publisher "${stamped}": it is that publisher, ` +
          `and cannot join again as "${p.name}" (its rows would arrive twice). ` +
          `See collector publishers list.`,
      );
    }
  });
}

export interface AddPublisherOptions {
  subscriberAdminUrl: string;
  publisher: PublisherTarget;
  passwords: Pick<RolePasswords, 'publisherApi' | 'replicator' | 'lag'>;
  replicationTls?: ReplicationTls;
  /**
   * The name is taken already, by a subscription to another host, port or database: false (the
   * CLI) refuses; true (setup, declarative: npm start with another COLLECTOR_PG_PORT_BASE) points
   * the subscription at the new place.
   */
  moveExisting?: boolean;
  /** Wait until the initial copy of the publisher's rows is done (the CLI does). */
  waitForCopy?: boolean;
  progress?: (message: string) => void;
}

export interface AddPublisherResult {
  subscription: string;
  outcome: 'created' | 'updated' | 'unchanged';
  /** Rows the initial copy brought (when waited for). */
  copiedRows?: number;
}

/**
 * Adds one publisher to a running fleet, or checks one that is there already: its checks (name,
 * wal_level, free slot, stamp), the publisher's migrations, roles, publication and name, then its
 * subscription, whose initial copy brings the rows already stored there. The other publishers'
 * subscriptions are not touched: they stream on throughout. `collector publishers add`, `collector
 * setup` and `npm start` all add publishers through here.
 */
export async function addPublisher(opts: AddPublisherOptions): Promise<AddPublisherResult> {
  const say = opts.progress ?? (() => {});
  const p = opts.publisher;
  checkName(p.name);
  const name = subscriptionName(p.name);
  const conninfo = replicationConninfo(p, opts.passwords.replicator, opts.replicationTls);
  // The name first: a second publisher under a taken name is refused before anything changes.
  const existing = await withDb(opts.subscriberAdminUrl, async (db) => {
    const { rows } = await sql<{ subconninfo: string }>`
      SELECT subconninfo FROM pg_subscription
       WHERE subname = ${name}
         AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`.execute(
      db,
    );
    return rows[0]?.subconninfo;
  });
  if (existing !== undefined && !opts.moveExisting && !sameTarget(existing, conninfo)) {
    throw new PublisherRefused(
      `publisher name "${p.name}" is taken: subscription ${name} replicates from ${describeTarget(existing)}, ` +
        `not ${describeTarget(conninfo)}. Choose another name, or remove that publisher first ` +
        `(collector publishers remove ${p.name}).`,
    );
  }
  await checkPublisher(p);
  say(`${p.name}: wal_level = logical`);
  await setupPublisher(p, opts.passwords, say);
  say(
    `${p.name}: migrations, roles and publication ${PUBLICATION} ready; rows stamped "${p.name}"`,
  );
  return withDb(opts.subscriberAdminUrl, async (db) => {
    // Another publisher's add (compose runs them side by side) may be migrating: the migrator locks.
    await migrate(db, 'subscriber');
    // A publisher added again (removed with its rows kept) copies rows the subscriber holds:
    // skip those while it copies, and wait for the copy then, to turn the skipping off again.
    const replays =
      existing === undefined &&
      (
        await sql<{ held: boolean }>`
          SELECT EXISTS (SELECT FROM data WHERE publisher = ${p.name}) AS held`.execute(db)
      ).rows[0]?.held === true;
    if (replays) await skipReplayedRows(db, true);
    const outcome = await ensureSubscription(db, p, opts.passwords.replicator, opts.replicationTls);
    say(`subscription ${name} → ${p.name}: ${outcome}`);
    const result: AddPublisherResult = { subscription: name, outcome };
    if (opts.waitForCopy || replays) result.copiedRows = await waitForInitialCopy(db, p.name, say);
    if (replays) await skipReplayedRows(db, false);
    return result;
  });
}

/**
 * Turns the skipping of replayed rows (sql/subscriber/023) on before a subscription is created
 * with an initial copy, and off again once no subscription is copying: only a copy can bring rows
 * the subscriber holds already, and the trigger would otherwise cost every replicated row. Both
 * take a brief lock on `data` that waits for the apply workers' open transactions.
 */
export async function skipReplayedRows(db: Kysely<unknown>, on: boolean): Promise<void> {
  if (on) {
    await sql`ALTER TABLE data ENABLE REPLICA TRIGGER data_skip_replayed_row`.execute(db);
    return;
  }
  const { rows } = await sql<{ copying: number }>`
    SELECT count(*)::int AS copying FROM pg_subscription_rel WHERE srsubstate <> 'r'`.execute(db);
  if ((rows[0]?.copying ?? 0) === 0) {
    await sql`ALTER TABLE data DISABLE TRIGGER data_skip_replayed_row`.execute(db);
  }
}

/** Failed attempts of an initial copy after which waitForInitialCopy stops waiting. */
const MAX_COPY_FAILURES = 3;

/**
 * Waits until every table of a subscription is in state ready (r): the initial copy is done and
 * the table sync worker has handed over to the apply worker. Returns the publisher's row count.
 */
export async function waitForInitialCopy(
  db: Kysely<unknown>,
  publisher: string,
  say: (message: string) => void,
  timeoutMs = 24 * 3600 * 1000,
): Promise<number> {
  const name = subscriptionName(publisher);
  const deadline = Date.now() + timeoutMs;
  let lastSaid = 0;
  // A copy that fails on its data (a conflicting row, a missing column) disables the subscription
  // (disable_on_error): stop waiting at once and say what to do. One whose stream broke (the
  // publisher restarted) is enabled again, a few times. A subscription without disable_on_error
  // retries for ever: after a few failures, stop waiting too.
  const stopped = async (): Promise<string | null> => {
    const { rows } = await sql<{ subenabled: boolean }>`
      SELECT subenabled FROM pg_subscription WHERE subname = ${name}`.execute(db);
    if (rows[0]?.subenabled !== false) return null;
    const why = await disabledByError(db as unknown as Kysely<SubscriberDB>, name);
    if (why?.brokenStream && reenabled < MAX_COPY_FAILURES) {
      reenabled++;
      say(`${publisher}: the copy's stream broke (${why.error?.message}); starting it again`);
      await sql.raw(`ALTER SUBSCRIPTION ${pg.escapeIdentifier(name)} ENABLE`).execute(db);
      return null;
    }
    const error = why?.error
      ? `${why.error.message}${why.error.detail ? ` (${why.error.detail})` : ''}`
      : why
        ? 'see the subscriber log'
        : 'it was disabled (ALTER SUBSCRIPTION … DISABLE)';
    return (
      `the initial copy of ${publisher} stopped: ${error}. ` +
      `Fix that, then run: collector publishers resume ${publisher} (collector publishers status ${publisher} shows its state)`
    );
  };
  let reenabled = 0;
  const syncErrors = async () =>
    (
      await sql<{ n: number }>`
        SELECT coalesce(sum(sync_error_count), 0)::int AS n FROM pg_stat_subscription_stats
         WHERE subname = ${name}`.execute(db)
    ).rows[0]?.n ?? 0;
  const errorsBefore = await syncErrors();
  for (;;) {
    const { rows } = await sql<{ pending: number; rows: string }>`
      SELECT (SELECT count(*)::int FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
               WHERE s.subname = ${name} AND r.srsubstate <> 'r') AS pending,
             (SELECT count(*)::text FROM data WHERE publisher = ${publisher}) AS rows`.execute(db);
    const row = rows[0] ?? { pending: 0, rows: '0' };
    if (row.pending === 0) {
      say(
        `${publisher}: initial copy done, ${row.rows} row(s) from ${publisher} on the subscriber`,
      );
      return Number(row.rows);
    }
    if (Date.now() > deadline) throw new Error(`the initial copy of ${publisher} is not done yet`);
    const stop = await stopped();
    if (stop) throw new Error(stop);
    const failed = (await syncErrors()) - errorsBefore;
    if (failed >= MAX_COPY_FAILURES) {
      throw new Error(
        `the initial copy of ${publisher} failed ${failed} times (PostgreSQL keeps retrying it): ` +
          `collector publishers status ${publisher} shows why; fix that and the copy resumes by itself`,
      );
    }
    if (Date.now() - lastSaid > 5000) {
      say(`${publisher}: copying the rows already stored there (${row.rows} so far)…`);
      lastSaid = Date.now();
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The subscriber's own part: migrations, the maintenance databases, the gateway's password. */
export async function setupSubscriber(
  subscriberAdminUrl: string,
  gatewayPassword: string,
  say: (message: string) => void = () => {},
): Promise<void> {
  await withDb(subscriberAdminUrl, async (db) => {
    await migrate(db, 'subscriber');
    await closeMaintenanceDatabases(db, 'the subscriber', say);
    await setRolePassword(db, 'collector_gateway', gatewayPassword);
  });
  say('subscriber: migrations and roles ready');
}

export async function setup(opts: SetupOptions): Promise<void> {
  const say = opts.progress ?? (() => {});
  const names = new Set<string>();
  for (const p of opts.publishers) {
    checkName(p.name);
    if (names.has(p.name)) throw new PublisherRefused(`Publisher name "${p.name}" is used twice`);
    names.add(p.name);
  }
  await setupSubscriber(opts.subscriberAdminUrl, opts.passwords.gateway, say);
  // Each publisher through the same path as `collector publishers add`, side by side; settled,
  // so that no add still runs when a failure is reported (and npm start stops the clusters).
  const results = await Promise.allSettled(
    opts.publishers.map((p) =>
      addPublisher({
        subscriberAdminUrl: opts.subscriberAdminUrl,
        publisher: p,
        passwords: opts.passwords,
        replicationTls: opts.replicationTls,
        moveExisting: true,
        progress: say,
      }),
    ),
  );
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/**
 * Makes sure the gateway user `admin` exists. With a password, sets it (so setting
 * COLLECTOR_ADMIN_PASSWORD resets it); without one, creates the user with a generated password
 * and returns it, to be shown once. Run it last, once everything else is up, so that a generated
 * password is never lost to a later failure.
 */
export async function ensureAdmin(
  subscriberAdminUrl: string,
  password?: string,
): Promise<string | undefined> {
  return withDb<SubscriberDB, string | undefined>(subscriberAdminUrl, async (db) => {
    if (await userExists(db, 'admin')) {
      // Only a different password is set: setting it ends every token of admin's, which a
      // restart with the same COLLECTOR_ADMIN_PASSWORD must not do.
      if (password && !(await passwordIs(db, 'admin', password))) {
        await setPassword(db, 'admin', password);
      }
      return undefined;
    }
    const chosen = password ?? generatePassword();
    await createUser(db, 'admin', chosen, 'admin');
    return password ? undefined : chosen;
  });
}
