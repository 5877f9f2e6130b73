/** `collector start`: the whole collector locally on embedded PostgreSQL (npm start). */
import path from 'node:path';
import type { Command } from 'commander';
import { onShutdown } from '../../common/service.js';
import { defaultAuthMode } from '../../publisher-api/config.js';
import { killAllNow } from '../cluster.js';
import { readLocalConfig } from '../config.js';
import {
  AlreadyRunningError,
  type LocalCollector,
  modeLine,
  StartAborted,
  startLocalCollector,
} from '../local.js';
import { CliError } from './shared.js';

const ENVIRONMENT = `
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
  COLLECTOR_PUBLISHER_AUTH        publisher API keys: optional (default) or required
`;

export function registerStart(program: Command): void {
  program
    .command('start')
    .description(
      'Run the whole collector locally on embedded PostgreSQL (publishers + subscriber, replication wired). Same as npm start.',
    )
    .addHelpText('after', ENVIRONMENT)
    .action(start);
}

function localhost(url: string): string {
  return url.replace('127.0.0.1', 'localhost');
}

/** The mode the publisher APIs run in: they read the same environment as this process. */
function publisherAuthLine(): string {
  const mode = process.env.COLLECTOR_PUBLISHER_AUTH || defaultAuthMode(process.env);
  return mode === 'required'
    ? 'required (COLLECTOR_PUBLISHER_AUTH=required): npm run collector -- publisher-keys create <name>'
    : 'optional, requests without a key are accepted (COLLECTOR_PUBLISHER_AUTH=required to require them)';
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
    `  Publisher API keys: ${publisherAuthLine()}`,
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
    if (e instanceof AlreadyRunningError) throw new CliError(e.message, 3);
    throw e;
  }
  // A signal came while the last step finished: the handler is stopping it; no banner.
  if (abort.signal.aborted) return;
  console.log(banner(collector, (performance.now() - began) / 1000));
}
