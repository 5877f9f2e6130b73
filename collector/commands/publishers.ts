/**
 * `collector publishers …`: the fleet as the subscriber sees it (list, status) and the runbook for
 * a stopped subscription (resume). The logic is in ../fleet.ts; this file parses and prints.
 */
import { type Command, Option } from 'commander';
import { readConfig } from '../../common/env.js';
import { setupSchema } from '../config.js';
import {
  FleetError,
  fleetStatus,
  listSubscriptions,
  type PublisherStatus,
  resumeSubscription,
} from '../fleet.js';
import { CliError, localAdminUrl } from './shared.js';
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
      String(s.rowsReceived),
      `${s.applyErrorCount}/${s.syncErrorCount}`,
      conflicts(s.conflicts),
    ]),
  ];
  const lines = [table(rows)];
  for (const s of statuses) {
    if (s.reason) lines.push(`${s.name}: ${s.reason}`);
    if (s.failedTransaction) {
      lines.push(
        `${s.name}: failing transaction finished at ${s.failedTransaction.finishLsn ?? '? (see subscriber log)'}; fix: collector publishers resume ${s.name} --skip-failed-transaction`,
      );
    } else if (s.state === 'disabled') {
      lines.push(`${s.name}: fix: collector publishers resume ${s.name}`);
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
  console.log(`Watch it with: collector publishers status --watch`);
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
}
