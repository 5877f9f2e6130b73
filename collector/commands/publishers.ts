/**
 * `collector publishers …`: the fleet as the subscriber sees it (list, status) and the runbook for
 * a stopped subscription (resume). The logic is in ../fleet.ts; this file parses and prints.
 */
import { type Command, Option } from 'commander';
import { readConfig } from '../../common/env.js';
import { publisherAddSchema, setupSchema } from '../config.js';
import {
  FleetError,
  fleetStatus,
  listSubscriptions,
  type PublisherStatus,
  resumeSubscription,
} from '../fleet.js';
import {
  dropSlotByHand,
  finishInitialCopy,
  removePublisher,
  resyncPublisher,
} from '../fleet-ops.js';
import { addPublisher, PublisherRefused } from '../setup.js';
import { CliError, localAdminUrl, localCollector, withLocalHint } from './shared.js';
import { type DatabaseOption, withSubscriber } from './user.js';

/** The subscriber, as a superuser: the log is read with pg_read_file, conninfo needs it too. */
function databaseUrlOption(): Option {
  return new Option(
    '--database-url <url>',
    "the subscriber's superuser URL (default: COLLECTOR_SUBSCRIBER_ADMIN_URL, else the running local collector of npm start)",
  ).env('COLLECTOR_SUBSCRIBER_ADMIN_URL');
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * Admin URLs of the publishers, by name, for the publisher's side of status (slot, lag):
 * COLLECTOR_PUBLISHER_ADMIN_URLS if set; else, on the local collector, each pubN's own.
 */
async function publisherUrls(opts: DatabaseOption, names: string[]): Promise<Map<string, string>> {
  if (process.env.COLLECTOR_PUBLISHER_ADMIN_URLS) {
    const { publishers } = readConfig({ publishers: setupSchema.publishers }, process.env);
    return new Map(publishers.map((p) => [p.name, p.url]));
  }
  const urls = new Map<string, string>();
  if (opts.databaseUrl) return urls;
  for (const name of names) {
    const i = /^pub([1-9]\d*)$/.exec(name)?.[1];
    if (i) urls.set(name, await localAdminUrl(Number(i)));
  }
  return urls;
}

function ago(seconds: number | null): string {
  if (seconds === null) return '-';
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function bytes(n: number | null): string {
  if (n === null) return '?';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function conflicts(c: Record<string, number>): string {
  const some = Object.entries(c).filter(([, n]) => n > 0);
  return some.length === 0 ? '0' : some.map(([k, n]) => `${k}=${n}`).join(',');
}

export function statusTable(statuses: PublisherStatus[]): string {
  if (statuses.length === 0) return 'No publishers: no collector_* subscription on the subscriber.';
  const rows = [
    ['PUBLISHER', 'STATE', 'LAST MESSAGE', 'LAG', 'ROWS', 'ERRORS apply/sync', 'CONFLICTS'],
    ...statuses.map((s) => [
      s.name,
      s.state,
      s.secondsSinceLastMessage === null ? '-' : `${ago(s.secondsSinceLastMessage)} ago`,
      s.publisher === null || s.publisher.error
        ? '?'
        : `${bytes(s.lagBytes)}, ${s.lagSeconds === null ? '?' : `${s.lagSeconds.toFixed(1)} s`}`,
      s.rowsReceived === null ? '?' : String(s.rowsReceived),
      `${s.applyErrorCount}/${s.syncErrorCount}`,
      conflicts(s.conflicts),
    ]),
  ];
  const lines = [table(rows)];
  for (const s of statuses) {
    if (s.reason) lines.push(`${s.name}: ${s.reason}`);
    const missingColumn = /missing replicated columns?: (.*)$/.exec(s.reason ?? '')?.[1];
    if (missingColumn) {
      // A publisher's table got a column before the subscriber's did: skipping would lose rows.
      lines.push(
        `${s.name}: fix: add ${missingColumn} to the subscriber's data table first (ALTER TABLE data ADD COLUMN …), then run collector publishers resume ${s.name}: the waiting rows are applied. Do not skip: the rows would be lost.`,
      );
    } else if (s.failedTransaction) {
      lines.push(
        `${s.name}: failing transaction finished at ${s.failedTransaction.finishLsn ?? '? (see subscriber log)'}; fix: collector publishers resume ${s.name} --skip-failed-transaction`,
      );
    } else if (s.state === 'disabled') {
      lines.push(`${s.name}: fix: collector publishers resume ${s.name}`);
    } else if (s.state === 'slot lost') {
      lines.push(`${s.name}: fix: collector publishers resync ${s.name}`);
    }
    if (s.publisher?.error)
      lines.push(`${s.name}: lag unknown, publisher not reachable from here: ${s.publisher.error}`);
  }
  if (statuses.some((s) => s.publisher === null)) {
    lines.push(
      'LAG "?": no admin URL for that publisher here (set COLLECTOR_PUBLISHER_ADMIN_URLS to see slots and lag).',
    );
  }
  return lines.join('\n');
}

function watchSeconds(value: string | boolean | undefined): number | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return 2;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0.2 || n > 3600) {
    throw new CliError(`--watch takes a number of seconds from 0.2 to 3600, got "${value}"`, 2);
  }
  return n;
}

interface StatusOptions extends DatabaseOption {
  json?: boolean;
  watch?: string | boolean;
}

async function status(opts: StatusOptions): Promise<void> {
  const every = watchSeconds(opts.watch);
  const once = () =>
    withSubscriber(opts, async (db) => {
      const subs = await listSubscriptions(db);
      return fleetStatus(
        db,
        await publisherUrls(
          opts,
          subs.map((s) => s.name),
        ),
      );
    });
  if (every === undefined) {
    const statuses = await once();
    console.log(opts.json ? JSON.stringify(statuses, null, 2) : statusTable(statuses));
    return;
  }
  // Until Ctrl-C: the default SIGINT handling ends the process, and with it the loop.
  for (;;) {
    const statuses = await once();
    if (opts.json) console.log(JSON.stringify(statuses));
    else {
      process.stdout.write('\x1b[2J\x1b[H');
      console.log(`${new Date().toISOString()}  every ${every} s, Ctrl-C to stop\n`);
      console.log(statusTable(statuses));
    }
    await new Promise((r) => setTimeout(r, every * 1000));
  }
}

async function list(opts: DatabaseOption & { json?: boolean }): Promise<void> {
  const subs = await withSubscriber(opts, (db) => listSubscriptions(db));
  if (opts.json) {
    console.log(
      JSON.stringify(
        subs.map((s) => ({
          name: s.name,
          subscription: s.subscription,
          enabled: s.enabled,
          conninfo: s.conninfo,
          slotName: s.slotName,
          disableOnError: s.disableOnError,
        })),
        null,
        2,
      ),
    );
    return;
  }
  if (subs.length === 0) {
    console.log('No publishers: no collector_* subscription on the subscriber.');
    return;
  }
  console.log(
    table([
      ['NAME', 'ENABLED', 'CONNINFO (no password)'],
      ...subs.map((s) => [s.name, s.enabled ? 'yes' : 'no', s.conninfo]),
    ]),
  );
}

async function resume(
  name: string,
  opts: DatabaseOption & { skipFailedTransaction?: boolean },
): Promise<void> {
  let result: Awaited<ReturnType<typeof resumeSubscription>>;
  try {
    result = await withSubscriber(opts, (db) =>
      resumeSubscription(db, name, { skipFailedTransaction: Boolean(opts.skipFailedTransaction) }),
    );
  } catch (e) {
    if (e instanceof FleetError) throw new CliError(e.message);
    throw e;
  }
  if (result.skipped) {
    console.log(
      `Skipped the transaction that finished at ${result.skipped.finishLsn} on ${name}: its changes will never reach the subscriber.`,
    );
    console.log(`It had failed with: ${result.skipped.error}`);
  }
  if (result.wasEnabled) {
    console.log(
      `Subscription ${result.subscription} was already enabled${result.skipped ? '; its worker skips that transaction when it reaches it' : ': nothing to re-enable'}.`,
    );
  } else {
    console.log(`Subscription ${result.subscription} enabled.`);
  }
  if (!result.skipped && !result.wasEnabled) {
    console.log(
      result.lastError
        ? `Nothing skipped. If the error was not transient it will stop again: ${result.lastError}\n` +
            `To skip the failing transaction${result.finishLsn ? ` (finished at ${result.finishLsn})` : ''}: collector publishers resume ${name} --skip-failed-transaction`
        : 'Nothing skipped (for a transient error).',
    );
  }
  try {
    await withSubscriber(opts, (db) => finishInitialCopy(db, name, (m) => console.log(m)));
  } catch (e) {
    throw new CliError(`${(e as Error).message}`);
  }
  console.log(`Watch it with: collector publishers status --watch`);
}

interface AddOptions extends DatabaseOption {
  url?: string;
  replicationHost?: string;
  replicationPort?: string;
  wait: boolean;
}

async function add(name: string, opts: AddOptions): Promise<void> {
  if (!opts.url) {
    throw new CliError(
      "give the new publisher's superuser URL: --url postgres://postgres:password@host:5432/collector (or COLLECTOR_PUBLISHER_ADMIN_URL)",
      2,
    );
  }
  const cfg = readConfig(publisherAddSchema, {
    ...process.env,
    COLLECTOR_PUBLISHER_ADMIN_URL: opts.url,
    COLLECTOR_SUBSCRIBER_ADMIN_URL: opts.databaseUrl,
  });
  const port = opts.replicationPort === undefined ? undefined : Number(opts.replicationPort);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
    throw new CliError(
      `--replication-port must be a port number, got "${opts.replicationPort}"`,
      2,
    );
  }
  // Without a subscriber URL: the local collector of npm start, with its role passwords.
  const local = !cfg.subscriberAdminUrl;
  let subscriberAdminUrl = cfg.subscriberAdminUrl;
  let passwords = {
    publisherApi: cfg.publisherApiPassword,
    replicator: cfg.replicationPassword,
    lag: cfg.lagPassword,
  };
  if (local) {
    const { secrets } = await localCollector();
    subscriberAdminUrl = await localAdminUrl(0);
    passwords = {
      publisherApi: passwords.publisherApi ?? secrets.roles.publisherApi,
      replicator: passwords.replicator ?? secrets.roles.replicator,
      lag: passwords.lag ?? secrets.roles.lag,
    };
  }
  const { publisherApi, replicator } = passwords;
  if (!publisherApi || !replicator || !subscriberAdminUrl) {
    throw new CliError(
      'set COLLECTOR_PUBLISHER_API_DB_PASSWORD and COLLECTOR_REPLICATION_PASSWORD: the passwords the ' +
        "fleet's roles have (the same on every publisher, as collector setup gave them)",
      2,
    );
  }
  const say = (m: string) => console.log(m);
  let result: Awaited<ReturnType<typeof addPublisher>>;
  try {
    result = await withLocalHint(local, () =>
      addPublisher({
        subscriberAdminUrl: subscriberAdminUrl as string,
        publisher: {
          name,
          adminUrl: cfg.publisherUrl,
          replicationHost: opts.replicationHost,
          replicationPort: port,
        },
        passwords: { publisherApi, replicator, lag: passwords.lag },
        replicationTls: {
          sslmode: cfg.replicationSslMode,
          sslrootcert: cfg.replicationSslRootCert,
        },
        waitForCopy: opts.wait,
        progress: say,
      }),
    );
  } catch (e) {
    if (e instanceof PublisherRefused) throw new CliError(e.message);
    throw e;
  }
  if (result.outcome === 'created') {
    console.log(
      `Publisher ${name} added${result.copiedRows === undefined ? ' (its rows are being copied: collector publishers status shows when it streams)' : ''}. The other publishers were not touched.`,
    );
  } else {
    console.log(
      `Publisher ${name} was already in the fleet, on this database: checked, ${result.outcome === 'updated' ? 'its subscription updated' : 'nothing changed'}.`,
    );
  }
}

async function remove(
  name: string,
  opts: DatabaseOption & { keepData?: boolean; dropData?: boolean; forgetSlot?: boolean },
): Promise<void> {
  if (opts.keepData && opts.dropData) {
    throw new CliError('--keep-data and --drop-data contradict each other: choose one', 2);
  }
  let result: Awaited<ReturnType<typeof removePublisher>>;
  try {
    result = await withSubscriber(opts, (db) =>
      removePublisher(db, name, {
        dropData: Boolean(opts.dropData),
        forgetSlot: Boolean(opts.forgetSlot),
      }),
    );
  } catch (e) {
    if (e instanceof FleetError) throw new CliError(e.message);
    throw e;
  }
  console.log(`Subscription ${result.subscription} dropped: nothing more arrives from ${name}.`);
  if (result.slot === 'dropped')
    console.log(`Its replication slot ${result.slotName} on ${name} is dropped.`);
  else if (result.slot === 'missing')
    console.log(`Its replication slot ${result.slotName} was already gone from ${name}.`);
  else {
    console.log(
      `Its replication slot ${result.slotName} is LEFT on ${name} (unreachable), where it keeps WAL up to max_slot_wal_keep_size. Once ${name} is reachable, drop it there:\n  ${dropSlotByHand(result.slotName)}`,
    );
  }
  if (opts.dropData) {
    console.log(
      `Deleted from the subscriber: ${result.rowsDeleted} row(s) of ${name}, and ${result.annotationsDeleted} annotation(s) on them.`,
    );
  } else {
    console.log(
      `Kept on the subscriber: the ${result.rowsKept} row(s) ${name} sent, and their annotations (--drop-data deletes them).`,
    );
  }
  console.log(`${name}'s own database is unchanged: its rows, schema and publication stay there.`);
}

async function resync(
  name: string,
  opts: DatabaseOption & { url?: string; force?: boolean },
): Promise<void> {
  let result: Awaited<ReturnType<typeof resyncPublisher>>;
  try {
    result = await withSubscriber(opts, async (db) => {
      const urls = await publisherUrls(opts, [name]);
      if (opts.url) urls.set(name, opts.url);
      return resyncPublisher(db, name, {
        force: Boolean(opts.force),
        publisherUrls: urls,
        progress: (m) => console.log(m),
      });
    });
  } catch (e) {
    if (e instanceof FleetError) throw new CliError(e.message);
    throw e;
  }
  console.log(
    `Publisher ${name} resynced: ${result.rowsAfter - result.rowsBefore} missing row(s) copied ` +
      `(${result.rowsBefore} were already here and were kept, with their annotations; none duplicated). ` +
      `It streams from its new slot.`,
  );
}

export function registerPublishers(program: Command): void {
  const publishers = program
    .command('publishers')
    .description(
      "The publishers as the subscriber sees them: their subscriptions' state, and fixes.",
    )
    .addHelpText(
      'after',
      `
Examples:
  collector publishers list                       name, enabled, conninfo (no password)
  collector publishers add pub3 --url postgres://postgres:pw@pub3-host:5432/collector
                                                  a new publisher joins; its rows are copied
  collector publishers remove pub3                stop replicating it; its rows stay here
  collector publishers resync pub2                recreate a lost slot, copy what is missing
  collector publishers status                     state, last message, lag, rows, errors, conflicts
  collector publishers status --watch 5           redraw every 5 s until Ctrl-C
  collector publishers status --json              the same as a JSON array
  collector publishers resume pub2                re-enable a disabled or stopped subscription
  collector publishers resume pub2 --skip-failed-transaction
                                                  skip the transaction that stopped it, then re-enable

Which subscriber: --database-url, else COLLECTOR_SUBSCRIBER_ADMIN_URL, else the running local
collector of npm start. Lag and slots need each publisher's admin URL: the local collector's own,
or COLLECTOR_PUBLISHER_ADMIN_URLS (pub1=postgres://…,pub2=postgres://…). Error texts and the
failing transaction's LSN come from the subscriber's server log, read over SQL (superuser, or a
role with pg_read_server_files).`,
    );

  publishers
    .command('list')
    .description("List the publishers: the subscriber's collector_<name> subscriptions.")
    .option('--json', 'print a JSON array instead of a table')
    .addOption(databaseUrlOption())
    .action(list);

  publishers
    .command('status')
    .description(
      'One row per publisher: state (streaming, catching up, unreachable, stopped by error, disabled, slot lost), time since the last message, lag, rows received, errors and conflicts.',
    )
    .option('--json', 'print a JSON array instead of a table')
    .option('--watch [seconds]', 'redraw every few seconds (default 2) until Ctrl-C')
    .addOption(databaseUrlOption())
    .action(status);

  publishers
    .command('resume')
    .description(
      'Re-enable a stopped or disabled subscription; with --skip-failed-transaction, first skip the transaction that stopped it (ALTER SUBSCRIPTION … SKIP).',
    )
    .argument('<name>', 'the publisher (as in collector publishers list)')
    .option(
      '--skip-failed-transaction',
      "skip the transaction whose error stopped it (its rows never arrive); its finish LSN is read from the subscriber's log",
    )
    .addOption(databaseUrlOption())
    .action(resume);

  publishers
    .command('add')
    .description(
      "Add a publisher to a running fleet: checks its wal_level, applies the publisher's migrations, roles and publication, stamps its name on its rows, then creates its subscription, whose initial copy brings the rows it already has. The other publishers stream on. Adding one that is already there, on the same database, only checks it (compose runs this at every start); a different one under a taken name is refused.",
    )
    .argument('<name>', 'its name, stamped on its rows: lowercase letters, digits, "_"')
    .addOption(
      new Option(
        '--url <url>',
        "the publisher's database, as a superuser (postgres://postgres:pw@host:5432/collector); the subscriber's server must reach the same host and port, unless --replication-host/--replication-port say otherwise",
      ).env('COLLECTOR_PUBLISHER_ADMIN_URL'),
    )
    .option(
      '--replication-host <host>',
      "how the subscriber's PostgreSQL server reaches the publisher, if not by the URL's host",
    )
    .option('--replication-port <port>', "the same for the port, if not the URL's")
    .option('--no-wait', 'return once the subscription exists, without waiting for the copy')
    .addOption(databaseUrlOption())
    .addHelpText(
      'after',
      `
Role passwords: COLLECTOR_PUBLISHER_API_DB_PASSWORD and COLLECTOR_REPLICATION_PASSWORD (the same
as every publisher's, from collector setup); on the local collector of npm start, its own.
TLS of the new subscription: COLLECTOR_REPLICATION_SSLROOTCERT, COLLECTOR_REPLICATION_SSLMODE.
The publisher needs wal_level = logical, a free replication slot and WAL sender, and a
pg_hba.conf line letting collector_replicator in from the subscriber (README, "Operating the
fleet"). It does not start a REST API for it: run one (publisher-api) against it.`,
    )
    .action(add);

  publishers
    .command('remove')
    .description(
      "Remove a publisher: drop its subscription, and its replication slot on the publisher. By default the rows it already sent STAY on the subscriber (with their annotations); --drop-data deletes them. The publisher's own database is left as it is.",
    )
    .argument('<name>', 'the publisher (as in collector publishers list)')
    .option('--keep-data', 'keep the rows it sent, and their annotations (the default)')
    .option(
      '--drop-data',
      'delete the rows it sent from the subscriber, and the annotations on them (no undo)',
    )
    .option(
      '--forget-slot',
      "when the publisher is unreachable: drop the subscription anyway (after ALTER SUBSCRIPTION … SET (slot_name = NONE)), leaving its slot there to drop by hand: SELECT pg_drop_replication_slot('collector_<name>');",
    )
    .addOption(databaseUrlOption())
    .action(remove);

  publishers
    .command('resync')
    .description(
      "Recover a publisher whose replication slot was lost (status: slot lost; the publisher removed WAL it had not sent, past max_slot_wal_keep_size, or the slot was dropped). Changes in that lost WAL can never be streamed, so this drops the subscription and creates it again with a new slot and an initial copy of the publisher's whole table: rows the subscriber already has are skipped (identical rows only, so a real conflict still stops it), the missing ones arrive, nothing is deleted (annotations keep their datum), and no row is duplicated.",
    )
    .argument('<name>', 'the publisher (as in collector publishers list)')
    .option(
      '--url <url>',
      "the publisher's admin URL, to read its slot (default: COLLECTOR_PUBLISHER_ADMIN_URLS, or the local collector's)",
    )
    .option(
      '--force',
      'resync even if the slot is not lost (safe: copies every row again and keeps what is here)',
    )
    .addOption(databaseUrlOption())
    .action(resync);
}
