#!/usr/bin/env node
/**
 * `collector`: the command line of The Collector.
 *   start                 run the whole collector locally on embedded PostgreSQL (npm start)
 *   setup                 wire real hosts from the environment (compose.yaml's one-shot service)
 *   user create <name>    add a gateway user (--admin: one who may edit anyone's annotations)
 *   user set-password <name>
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createKysely } from '../common/db.js';
import { ConfigError, readConfig } from '../common/env.js';
import { AppError } from '../common/errors.js';
import { projectRoot } from '../common/paths.js';
import { onShutdown } from '../common/service.js';
import type { SubscriberDB } from '../subscriber-graphql/db.js';
import { createUser, setPassword } from '../subscriber-graphql/services/users.js';
import { killAllNow } from './cluster.js';
import { localSchema, readLocalConfig, readSetupConfig } from './config.js';
import {
  AlreadyRunningError,
  type LocalCollector,
  modeLine,
  readSecrets,
  StartAborted,
  startLocalCollector,
  superuserPasswordOf,
} from './local.js';
import { ensureAdmin, generatePassword, setup } from './setup.js';

const HELP = `collector: aggregate many PostgreSQL publishers into one subscriber, served by GraphQL.

Usage: collector <command> [options]        (from the repository: npm run collector -- <command>)

Commands:
  start                       Run the whole collector locally on embedded PostgreSQL
                              (2 publishers + subscriber, replication wired). Same as npm start.
  setup                       Apply sql/, set role passwords, create the subscriptions and the
                              admin user on real hosts, from COLLECTOR_* variables (compose.yaml).
  user create <username> [--admin]
                              Create a gateway user (an admin may also change and delete
                              other users' annotations).
  user set-password <username>
                              Set a gateway user's password.

Run "collector <command> --help" for a command's options and environment variables.
`;

const START_HELP = `Usage: collector start

Runs the collector locally until Ctrl-C: embedded PostgreSQL 18 clusters (no Docker, no system
PostgreSQL), the publishers' REST APIs and the GraphQL gateway. Data is kept between runs.

Environment:
  COLLECTOR_PUBLISHERS            number of publishers (default 2, at most 10)
  COLLECTOR_DATA_DIR              data directory (default .collector)
  COLLECTOR_ADMIN_PASSWORD        password of user "admin" (generated and printed once if unset)
  COLLECTOR_GATEWAY_PORT          GraphQL gateway port (default 4000)
  COLLECTOR_PUBLISHER_PORT_BASE   publisher i listens on this + i (default 8000: 8001, 8002, ...)
  COLLECTOR_PG_PORT_BASE          embedded PostgreSQL ports: subscriber here, publisher i at + i
                                  (default 54320)
  COLLECTOR_JWT_SECRET            token signing key (default: generated, kept in the data dir)
  COLLECTOR_BODY_LIMIT            largest request body (default 1mb)
  COLLECTOR_LOG_LEVEL             server log level (default warn)
`;

const SETUP_HELP = `Usage: collector setup

Idempotent wiring of a collector on real PostgreSQL hosts (wal_level=logical on publishers):
migrations from sql/, passwords and LOGIN for the least-privilege roles, each publisher's name,
one subscription per publisher, and the gateway user "admin".

Environment:
  COLLECTOR_SUBSCRIBER_ADMIN_URL        postgres://superuser:password@subscriber:5432/collector
  COLLECTOR_PUBLISHER_ADMIN_URLS        pub1=postgres://superuser:pw@pub1:5432/collector,pub2=...
                                        (the subscriber's server must reach these hosts too)
  COLLECTOR_PUBLISHER_API_DB_PASSWORD   password for role collector_publisher_api (publishers)
  COLLECTOR_REPLICATION_PASSWORD        password for role collector_replicator (publishers)
  COLLECTOR_GATEWAY_DB_PASSWORD         password for role collector_gateway (subscriber)
  COLLECTOR_ADMIN_PASSWORD              password of user "admin" (generated and printed if unset)
`;

const USER_HELP = `Usage: collector user create <username> [--admin] [options]
       collector user set-password <username> [options]

Options:
  --admin                (create only) the user is an admin: may also change and delete other
                         users' annotations (default: a plain user, only their own)
  --database-url <url>   subscriber database URL of a role that may write app_user
                         (default: COLLECTOR_SUBSCRIBER_ADMIN_URL, else the running local
                         collector's subscriber: COLLECTOR_DATA_DIR, COLLECTOR_PG_PORT_BASE)
  --password-stdin       read the password from standard input (otherwise one is generated
                         and printed)
`;

function fail(message: string, code = 1): never {
  console.error(`collector: ${message}`);
  process.exit(code);
}

function version(): string {
  const pkg = JSON.parse(readFileSync(path.join(projectRoot(), 'package.json'), 'utf8'));
  return pkg.version as string;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

function localhost(url: string): string {
  return url.replace('127.0.0.1', 'localhost');
}

function banner(c: LocalCollector, seconds: number): string {
  const pub = c.publishers[0];
  const gw = localhost(c.gatewayUrl);
  const password = c.generatedAdminPassword ?? '<your admin password>';
  const lines = [
    '',
    `The Collector is running (data in ${c.dataDir}), ready in ${seconds.toFixed(1)} s.`,
    `  ${modeLine(c.production)}`,
    '',
    '  Publishers, REST (POST /data, GET /data, GET /data/{id}, GET /health):',
    ...c.publishers.map(
      (p) => `    ${p.name.padEnd(6)} ${localhost(p.url)}    PostgreSQL 127.0.0.1:${p.pgPort}`,
    ),
    `  Subscriber GraphQL: ${gw}/graphql${c.production ? '' : ' (Apollo Sandbox)'}    PostgreSQL 127.0.0.1:${c.subscriberCluster.options.port}`,
    `  Login:              POST ${gw}/login or mutation login`,
    '',
    c.generatedAdminPassword
      ? `  User "admin", password: ${c.generatedAdminPassword}\n  (shown only this once; set COLLECTOR_ADMIN_PASSWORD to choose it, or run\n   npm run collector -- user set-password admin)`
      : '  User "admin" exists (password from COLLECTOR_ADMIN_PASSWORD or the first start).',
    `  Database passwords: ${path.join(c.dataDir, 'secrets.json')}`,
    '',
    'Try it:',
    `  curl -H "Content-Type: application/json" -X POST -d '{"data": {"email":"john@email.com","amount":123}}' ${localhost(pub?.url ?? '')}/data/`,
    `  curl -d "username=admin" -d "password=${password}" -X POST ${gw}/login/`,
    `  curl ${gw}/graphql -H "Authorization: Bearer <token>" -H "Content-Type: application/json" \\`,
    `    -d '{"query":"{ data(first: 10) { nodes { id publisher data annotations { body } } } }"}'`,
    '',
    'Press Ctrl-C to stop.',
  ];
  return lines.join('\n');
}

async function start(): Promise<void> {
  const cfg = readLocalConfig();
  const began = performance.now();
  const log = (m: string) => console.log(`  ${m}`);
  console.log('Starting The Collector...');

  // Signal handlers first: a Ctrl-C while clusters are still starting must stop them too.
  const abort = new AbortController();
  let collector: LocalCollector | undefined;
  let starting: Promise<LocalCollector> | undefined;
  const stop = async (why: string) => {
    console.log(`\n${why}: stopping the servers and PostgreSQL...`);
    // Still starting: abort, and wait for the start to clean up or, if it got past its last
    // check, for the collector to stop like a running one.
    abort.abort();
    const c = collector ?? (await starting?.catch(() => undefined));
    if (c?.generatedAdminPassword && !collector) {
      console.log(`User "admin" was created with password: ${c.generatedAdminPassword}`);
    }
    await c?.stop();
    console.log('Stopped. Data is kept; npm start resumes where it left off.');
  };
  // A second signal, an uncaught error or any exit: immediate shutdown of our postmasters.
  onShutdown(stop, killAllNow);
  process.on('exit', killAllNow);
  let crashed = false;
  process.on('uncaughtException', (e) => {
    if (crashed) return;
    crashed = true;
    console.error(e);
    void stop('uncaught error').finally(() => process.exit(1));
  });

  starting = startLocalCollector({
    dataDir: cfg.dataDir,
    publishers: cfg.publishers,
    pgPorts: {
      subscriber: cfg.pgPortBase,
      publishers: Array.from({ length: cfg.publishers }, (_, i) => cfg.pgPortBase + i + 1),
    },
    httpPorts: {
      gateway: cfg.gatewayPort,
      publishers: Array.from({ length: cfg.publishers }, (_, i) => cfg.publisherPortBase + i + 1),
    },
    adminPassword: cfg.adminPassword,
    jwtSecret: cfg.jwtSecret,
    bodyLimit: cfg.bodyLimit,
    logLevel: cfg.logLevel,
    progress: log,
    signal: abort.signal,
  });
  try {
    collector = await starting;
  } catch (e) {
    if (e instanceof StartAborted) return; // the signal handler reports and exits
    if (e instanceof AlreadyRunningError) fail(e.message, 3);
    throw e;
  }
  // A signal came while the last step finished: the handler is stopping it; no banner.
  if (abort.signal.aborted) return;
  console.log(banner(collector, (performance.now() - began) / 1000));
}

async function userCommand(args: string[]): Promise<void> {
  const [action, username, ...rest] = args;
  if (!action || args.includes('--help') || args.includes('-h')) {
    console.log(USER_HELP);
    return;
  }
  if (action !== 'create' && action !== 'set-password')
    fail(`unknown user command "${action}"\n${USER_HELP}`, 2);
  if (!username || username.startsWith('-')) fail(`missing <username>\n${USER_HELP}`, 2);
  let url = process.env.COLLECTOR_SUBSCRIBER_ADMIN_URL || undefined;
  let fromStdin = false;
  let local = false;
  let admin = false;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--database-url') {
      url = rest[++i];
      if (!url || url.startsWith('-')) fail(`--database-url needs a value\n${USER_HELP}`, 2);
    } else if (rest[i] === '--password-stdin') fromStdin = true;
    else if (rest[i] === '--admin' && action === 'create') admin = true;
    else fail(`unknown option "${rest[i]}"\n${USER_HELP}`, 2);
  }
  if (!url) {
    // The local collector of npm start: its two settings that locate it, checked the same way.
    const cfg = readConfig(
      { dataDir: localSchema.dataDir, pgPortBase: localSchema.pgPortBase },
      process.env,
    );
    const dataDir = path.resolve(cfg.dataDir);
    const secrets = await readSecrets(dataDir);
    if (!secrets) {
      fail(
        `no database given: pass --database-url, set COLLECTOR_SUBSCRIBER_ADMIN_URL, or run npm start first (no local collector in ${dataDir})`,
        2,
      );
    }
    url = `postgres://postgres:${encodeURIComponent(superuserPasswordOf(secrets, 'subscriber'))}@127.0.0.1:${cfg.pgPortBase}/collector`;
    local = true;
  }
  const password = fromStdin ? await readStdin() : generatePassword();
  const db = createKysely<SubscriberDB>(url, { max: 1, applicationName: 'collector-cli' });
  try {
    if (action === 'create') await createUser(db, username, password, admin ? 'admin' : 'user');
    else await setPassword(db, username, password);
  } catch (e) {
    if (local && (e as { code?: string }).code === 'ECONNREFUSED') {
      fail("cannot reach the local collector's subscriber: start it first (npm start)", 1);
    }
    throw e;
  } finally {
    await db.destroy();
  }
  console.log(
    action === 'create'
      ? `User "${username}" created${admin ? ' (admin)' : ''}.`
      : `Password of "${username}" set.`,
  );
  if (!fromStdin) console.log(`Password: ${password}`);
}

async function setupCommand(): Promise<void> {
  const cfg = readSetupConfig();
  await setup({
    subscriberAdminUrl: cfg.subscriberAdminUrl,
    publishers: cfg.publishers.map((p) => ({ name: p.name, adminUrl: p.url })),
    passwords: {
      publisherApi: cfg.publisherApiPassword,
      replicator: cfg.replicationPassword,
      gateway: cfg.gatewayPassword,
    },
    progress: (m) => console.log(m),
  });
  const generated = await ensureAdmin(cfg.subscriberAdminUrl, cfg.adminPassword);
  if (generated) console.log(`User "admin" created with password: ${generated} (shown once)`);
  console.log('Setup complete.');
}

async function main(argv: string[]): Promise<void> {
  // Output to a closed pipe (`npm start | head`, a parent that died) must not turn every later
  // log line into an uncaught EPIPE: ignore write errors on our own output.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  const [command, ...args] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    console.log(HELP);
    return;
  }
  if (command === '--version' || command === '-v') {
    console.log(version());
    return;
  }
  const wantsHelp = args.includes('--help') || args.includes('-h');
  switch (command) {
    case 'start':
      if (wantsHelp) console.log(START_HELP);
      else await start();
      return;
    case 'setup':
      if (wantsHelp) console.log(SETUP_HELP);
      else await setupCommand();
      return;
    case 'user':
      await userCommand(args);
      return;
    default:
      fail(`unknown command "${command}"\n\n${HELP}`, 2);
  }
}

main(process.argv.slice(2)).catch((e) => {
  if (e instanceof ConfigError) fail(e.message, 2);
  if (e instanceof AppError) fail(e.message, 1);
  fail(e instanceof Error ? e.message : String(e));
});
