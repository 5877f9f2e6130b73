/**
 * The local collector behind `npm start`: embedded PostgreSQL clusters (one subscriber, N
 * publishers), wired by `setup`, with every publisher's REST API and the GraphQL gateway running
 * in this process. Everything lives under one data directory, so a restart keeps all data and
 * replication state.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { LogLevel } from '../common/env.js';
import { portIsFree } from '../common/ports.js';
import type { RunningService } from '../common/service.js';
import { startPublisherApi } from '../publisher-api/start.js';
import { startGateway } from '../subscriber-graphql/start.js';
import { assertPostgresCanReach, Cluster, isAlive } from './cluster.js';
import { ensureAdmin, generatePassword, type RolePasswords, setup } from './setup.js';

export const DATABASE = 'collector';

export interface LocalOptions {
  dataDir: string;
  publishers: number;
  /** PostgreSQL ports: the subscriber's, then one per publisher. */
  pgPorts: { subscriber: number; publishers: number[] };
  /** HTTP ports (0 picks a free one): the gateway's, then one per publisher API. */
  httpPorts: { gateway: number; publishers: number[] };
  adminPassword?: string;
  jwtSecret?: string;
  bodyLimit: number;
  logLevel: LogLevel;
  progress?: (message: string) => void;
  /** Aborting stops whatever has started so far, and the start rejects with StartAborted. */
  signal?: AbortSignal;
}

export interface LocalPublisher {
  name: string;
  url: string;
  adminUrl: string;
  apiDatabaseUrl: string;
  pgPort: number;
  cluster: Cluster;
}

export interface LocalCollector {
  dataDir: string;
  publishers: LocalPublisher[];
  gatewayUrl: string;
  subscriberAdminUrl: string;
  subscriberGatewayUrl: string;
  subscriberCluster: Cluster;
  jwtSecret: string;
  /** Set only on the start that created `admin` with a generated password. */
  generatedAdminPassword?: string;
  stop(): Promise<void>;
}

/** What is generated once and kept in `<dataDir>/secrets.json` (mode 0600). */
export interface LocalSecrets {
  superuserPassword: string;
  roles: RolePasswords;
  jwtSecret: string;
}

export class AlreadyRunningError extends Error {}
export class StartAborted extends Error {}

export const secretsFile = (dataDir: string) => path.join(dataDir, 'secrets.json');
const lockFile = (dataDir: string) => path.join(dataDir, 'collector.pid');

export async function readSecrets(dataDir: string): Promise<LocalSecrets | undefined> {
  const file = secretsFile(dataDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`Cannot read ${file}: ${(e as Error).message}`);
  }
  let secrets: LocalSecrets | undefined;
  try {
    secrets = JSON.parse(text) as LocalSecrets;
  } catch {
    // reported below
  }
  const complete =
    typeof secrets?.superuserPassword === 'string' &&
    typeof secrets.jwtSecret === 'string' &&
    ['publisherApi', 'replicator', 'gateway'].every(
      (k) =>
        typeof (secrets?.roles as unknown as Record<string, unknown> | undefined)?.[k] === 'string',
    );
  if (secrets && complete) return secrets;
  throw new Error(
    `${file} is not valid JSON or lacks passwords. Restore it from a backup; without it the local clusters' ` +
      `passwords are lost (deleting ${dataDir} starts over, and deletes all local data).`,
  );
}

async function loadOrCreateSecrets(dataDir: string, clusterDirs: string[]): Promise<LocalSecrets> {
  const existing = await readSecrets(dataDir);
  if (existing) return existing;
  const initialised = clusterDirs.filter((d) => existsSync(path.join(d, 'PG_VERSION')));
  if (initialised.length > 0) {
    throw new Error(
      `${secretsFile(dataDir)} is missing, but ${initialised.join(', ')} hold(s) clusters ` +
        `created with its passwords. Restore the file, or delete ${dataDir} to start over ` +
        '(this deletes all local data).',
    );
  }
  const secrets: LocalSecrets = {
    superuserPassword: generatePassword(),
    roles: {
      publisherApi: generatePassword(),
      replicator: generatePassword(),
      gateway: generatePassword(),
    },
    jwtSecret: randomBytes(32).toString('base64url'),
  };
  // Written whole or not at all: a torn file would lose the clusters' passwords.
  const tmp = `${secretsFile(dataDir)}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, secretsFile(dataDir));
  return secrets;
}

/** The launcher's PID in `<dataDir>/collector.pid`; a live one means another start owns the dir. */
async function takeLock(dataDir: string): Promise<void> {
  const file = lockFile(dataDir);
  // Written in full under a private name, then hard-linked into place: link() fails if the lock
  // exists, and a reader never sees an empty or partial lock file.
  const mine = `${file}.${process.pid}`;
  await writeFile(mine, `${process.pid}\n`);
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await link(mine, file);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const text = await readFile(file, 'utf8').catch(() => '');
      const pid = Number(text.trim());
      if (pid && pid !== process.pid && isAlive(pid)) {
        throw new AlreadyRunningError(
          `The Collector is already running from ${dataDir} (process ${pid}). ` +
            `Stop it with Ctrl-C in its terminal (or: kill ${pid}), or set COLLECTOR_DATA_DIR ` +
            'and the COLLECTOR_*_PORT variables to run a second one.',
        );
      }
      // Left by a start that was killed: take it over, unless it changed meanwhile.
      if ((await readFile(file, 'utf8').catch(() => '')) === text) await rm(file, { force: true });
    }
    throw new Error(`Cannot take the lock ${file}: another start is racing for it`);
  } finally {
    await rm(mine, { force: true });
  }
}

async function checkPorts(wanted: Array<{ port: number; what: string }>): Promise<void> {
  const busy: string[] = [];
  for (const { port, what } of wanted) {
    if (port !== 0 && !(await portIsFree(port))) busy.push(`  - ${port} (${what})`);
  }
  if (busy.length > 0) {
    throw new Error(
      `These ports are already in use:\n${busy.join('\n')}\n` +
        'Stop whatever uses them, or move the collector with COLLECTOR_GATEWAY_PORT, ' +
        'COLLECTOR_PUBLISHER_PORT_BASE and COLLECTOR_PG_PORT_BASE.',
    );
  }
}

/** Rejects with the first failure, but only once every promise has settled. */
async function allSettledOrThrow(promises: Array<Promise<unknown>>): Promise<void> {
  const failed = (await Promise.allSettled(promises)).find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

function databaseUrl(user: string, password: string, port: number): string {
  return `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${DATABASE}`;
}

export async function startLocalCollector(opts: LocalOptions): Promise<LocalCollector> {
  const say = opts.progress ?? (() => {});
  const dataDir = path.resolve(opts.dataDir);
  // 0755: the postgres system user (when we run as root) must reach its data directories.
  await mkdir(dataDir, { recursive: true });
  await chmod(dataDir, 0o755);
  await assertPostgresCanReach(dataDir);
  await takeLock(dataDir);

  const services: RunningService[] = [];
  const clusters: Cluster[] = [];
  const stopAll = async () => {
    try {
      for (const s of services.splice(0).reverse()) {
        await s.stop().catch((e) => say(`while stopping a server: ${(e as Error).message}`));
      }
      await allSettledOrThrow(clusters.map((c) => c.stop()));
    } finally {
      await rm(lockFile(dataDir), { force: true });
    }
  };
  const checkpoint = () => {
    if (opts.signal?.aborted) throw new StartAborted('Start interrupted');
  };

  try {
    const names = Array.from({ length: opts.publishers }, (_, i) => `pub${i + 1}`);
    const secrets = await loadOrCreateSecrets(dataDir, [
      path.join(dataDir, 'subscriber'),
      ...names.map((n) => path.join(dataDir, n)),
    ]);
    const subscriberCluster = new Cluster({
      name: 'subscriber',
      dataDir: path.join(dataDir, 'subscriber'),
      port: opts.pgPorts.subscriber,
      superuserPassword: secrets.superuserPassword,
      database: DATABASE,
    });
    const publisherClusters = names.map(
      (name, i) =>
        new Cluster({
          name,
          dataDir: path.join(dataDir, name),
          port: opts.pgPorts.publishers[i] ?? 0,
          superuserPassword: secrets.superuserPassword,
          database: DATABASE,
        }),
    );
    const all = [subscriberCluster, ...publisherClusters];

    // A postmaster still running here belongs to an earlier start that was killed: stop it.
    for (const c of all) {
      const pid = await c.runningPid();
      if (pid !== undefined) {
        say(`stopping PostgreSQL ${c.options.name} (pid ${pid}) left running by an earlier start`);
        await c.stop();
      }
    }
    await checkPorts([
      { port: opts.httpPorts.gateway, what: 'GraphQL gateway' },
      ...names.map((n, i) => ({ port: opts.httpPorts.publishers[i] ?? 0, what: `${n} REST API` })),
      ...all.map((c) => ({ port: c.options.port, what: `PostgreSQL ${c.options.name}` })),
    ]);
    checkpoint();

    const fresh = all.filter((c) => !c.isInitialised()).length;
    if (fresh > 0) say(`creating ${fresh} PostgreSQL cluster(s) under ${dataDir} (initdb)`);
    await allSettledOrThrow(all.map((c) => c.initialise()));
    checkpoint();
    clusters.push(...all);
    // Settled, not Promise.all: a failed start must not leave a sibling starting after stopAll.
    await allSettledOrThrow(all.map((c) => c.start()));
    say(`PostgreSQL 18 running: subscriber and ${names.length} publisher(s)`);
    checkpoint();

    await setup({
      subscriberAdminUrl: subscriberCluster.adminUrl,
      publishers: publisherClusters.map((c) => ({ name: c.options.name, adminUrl: c.adminUrl })),
      passwords: secrets.roles,
      progress: say,
    });
    checkpoint();

    const jwtSecret = opts.jwtSecret ?? secrets.jwtSecret;
    const publishers: LocalPublisher[] = [];
    for (const [i, cluster] of publisherClusters.entries()) {
      const apiDatabaseUrl = databaseUrl(
        'collector_publisher_api',
        secrets.roles.publisherApi,
        cluster.options.port,
      );
      const api = await startPublisherApi({
        databaseUrl: apiDatabaseUrl,
        host: '127.0.0.1',
        port: opts.httpPorts.publishers[i] ?? 0,
        bodyLimit: opts.bodyLimit,
        logLevel: opts.logLevel,
      });
      services.push(api);
      publishers.push({
        name: cluster.options.name,
        url: api.url,
        adminUrl: cluster.adminUrl,
        apiDatabaseUrl,
        pgPort: cluster.options.port,
        cluster,
      });
    }
    const subscriberGatewayUrl = databaseUrl(
      'collector_gateway',
      secrets.roles.gateway,
      subscriberCluster.options.port,
    );
    services.push(
      await startGateway({
        databaseUrl: subscriberGatewayUrl,
        host: '127.0.0.1',
        port: opts.httpPorts.gateway,
        jwtSecret,
        jwtTtlSeconds: 8 * 3600,
        bodyLimit: opts.bodyLimit,
        logLevel: opts.logLevel,
        production: false,
      }),
    );
    checkpoint();
    // Last, so that a generated password is only made once nothing else can fail.
    const generatedAdminPassword = await ensureAdmin(
      subscriberCluster.adminUrl,
      opts.adminPassword,
    );

    return {
      dataDir,
      publishers,
      gatewayUrl: (services[services.length - 1] as RunningService).url,
      subscriberAdminUrl: subscriberCluster.adminUrl,
      subscriberGatewayUrl,
      subscriberCluster,
      jwtSecret,
      generatedAdminPassword,
      stop: stopAll,
    };
  } catch (e) {
    await stopAll().catch((err) =>
      say(`while stopping after a failed start: ${(err as Error).message}`),
    );
    throw e;
  }
}
