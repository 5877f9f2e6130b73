/**
 * The local collector behind `npm start`: embedded PostgreSQL clusters (one subscriber, N
 * publishers), wired by `setup`, with every publisher's REST API and the GraphQL gateway each in
 * its own supervised child process, as compose runs them. Everything lives under one data
 * directory, so a restart keeps all data and replication state.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isProduction, type LogLevel, readConfig } from '../common/env.js';
import { projectRoot } from '../common/paths.js';
import { portIsFree } from '../common/ports.js';
import { assertPostgresCanReach, Cluster, isAlive } from './cluster.js';
import { localSchema } from './config.js';
import { ensureAdmin, generatePassword, type RolePasswords, setup } from './setup.js';
import { type BackoffOptions, SupervisedChild } from './supervisor.js';

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
  /**
   * More environment for the service processes, over this process's own: any COLLECTOR_* setting
   * of publisher-api/config.ts or subscriber-graphql/config.ts (timeouts, limits, NODE_ENV).
   */
  env?: Record<string, string>;
  /**
   * WAL a publisher keeps for a replication slot whose subscriber lags or is gone (PostgreSQL's
   * syntax: 1GB, 512MB, -1 for no bound). Default: COLLECTOR_MAX_SLOT_WAL_KEEP_SIZE, else 1GB.
   */
  maxSlotWalKeepSize?: string;
  /** Restart delays for dead services and PostgreSQL servers (tests shorten them). */
  backoff?: BackoffOptions;
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
  /** The REST API's process. */
  api: SupervisedChild;
}

export interface LocalCollector {
  dataDir: string;
  publishers: LocalPublisher[];
  gatewayUrl: string;
  subscriberAdminUrl: string;
  subscriberGatewayUrl: string;
  subscriberCluster: Cluster;
  /** The GraphQL gateway's process. */
  gateway: SupervisedChild;
  jwtSecret: string;
  /** Whether the services run with NODE_ENV=production (from this process's env or `env`). */
  production: boolean;
  /** Set only on the start that created `admin` with a generated password. */
  generatedAdminPassword?: string;
  stop(): Promise<void>;
}

/** What is generated once and kept in `<dataDir>/secrets.json` (mode 0600). */
export interface LocalSecrets {
  /**
   * Each cluster's own password for its `postgres` superuser, by cluster name (subscriber, pub1,
   * …): one leaked password opens one cluster, not all of them.
   */
  superuserPasswords: Record<string, string>;
  /**
   * The one superuser password that every cluster shared before they had their own. A data
   * directory from then keeps it for the clusters created with it; new clusters get their own.
   */
  superuserPassword?: string;
  roles: RolePasswords;
  jwtSecret: string;
}

/** The superuser password of one local cluster ("subscriber", "pub1", …). */
export function superuserPasswordOf(secrets: LocalSecrets, cluster: string): string {
  const password = secrets.superuserPasswords[cluster] ?? secrets.superuserPassword;
  if (password === undefined)
    throw new Error(`secrets.json has no password for cluster ${cluster}`);
  return password;
}

/**
 * One line for the start banner: which mode the services run in, and what that changes. The
 * services read NODE_ENV themselves; npm start passes its own environment on to them.
 */
export function modeLine(production: boolean): string {
  return production
    ? 'Mode: production (NODE_ENV=production): no Sandbox, GraphiQL or introspection, no schema hints in errors'
    : 'Mode: development: Apollo Sandbox, GraphiQL and introspection are on (NODE_ENV=production turns them off)';
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
  const perCluster = secrets?.superuserPasswords;
  const complete =
    (typeof secrets?.superuserPassword === 'string' ||
      (typeof perCluster === 'object' &&
        perCluster !== null &&
        Object.values(perCluster).every((v) => typeof v === 'string'))) &&
    typeof secrets?.jwtSecret === 'string' &&
    ['publisherApi', 'replicator', 'gateway'].every(
      (k) =>
        typeof (secrets?.roles as unknown as Record<string, unknown> | undefined)?.[k] === 'string',
    );
  if (secrets && complete) {
    // The format before per-cluster passwords had only `superuserPassword`.
    if (typeof perCluster !== 'object' || perCluster === null) secrets.superuserPasswords = {};
    return secrets;
  }
  throw new Error(
    `${file} is not valid JSON or lacks passwords. Restore it from a backup; without it the local clusters' ` +
      `passwords are lost (deleting ${dataDir} starts over, and deletes all local data).`,
  );
}

async function writeSecrets(dataDir: string, secrets: LocalSecrets): Promise<void> {
  // Written whole or not at all: a torn file would lose the clusters' passwords.
  const tmp = `${secretsFile(dataDir)}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, secretsFile(dataDir));
}

/**
 * The secrets of `dataDir`, created on the first start. Every cluster gets its own superuser
 * password when it is created; a cluster created before that keeps the shared one it was created
 * with (its password is in its pg_authid, and this launcher never rotates it behind your back).
 */
async function loadOrCreateSecrets(
  dataDir: string,
  clusters: Array<{ name: string; dir: string }>,
): Promise<LocalSecrets> {
  const isInitialised = (dir: string) => existsSync(path.join(dir, 'PG_VERSION'));
  const existing = await readSecrets(dataDir);
  if (existing) {
    let changed = false;
    for (const { name, dir } of clusters) {
      if (existing.superuserPasswords[name] !== undefined) continue;
      if (isInitialised(dir)) {
        if (existing.superuserPassword === undefined) {
          throw new Error(
            `${secretsFile(dataDir)} has no superuser password for the cluster in ${dir}. Restore ` +
              `the file from a backup, or delete ${dir} to recreate that cluster (losing its data).`,
          );
        }
        // Created with the shared password of the old format: it keeps it, now under its name.
        existing.superuserPasswords[name] = existing.superuserPassword;
      } else {
        existing.superuserPasswords[name] = generatePassword();
      }
      changed = true;
    }
    // The lag monitor's login came later: a data directory from before gets one now.
    if (typeof existing.roles.lag !== 'string') {
      existing.roles.lag = generatePassword();
      changed = true;
    }
    if (changed) await writeSecrets(dataDir, existing);
    return existing;
  }
  const initialised = clusters.filter((c) => isInitialised(c.dir)).map((c) => c.dir);
  if (initialised.length > 0) {
    throw new Error(
      `${secretsFile(dataDir)} is missing, but ${initialised.join(', ')} hold(s) clusters ` +
        `created with its passwords. Restore the file, or delete ${dataDir} to start over ` +
        '(this deletes all local data).',
    );
  }
  const secrets: LocalSecrets = {
    superuserPasswords: Object.fromEntries(clusters.map((c) => [c.name, generatePassword()])),
    roles: {
      publisherApi: generatePassword(),
      replicator: generatePassword(),
      gateway: generatePassword(),
      lag: generatePassword(),
    },
    jwtSecret: randomBytes(32).toString('base64url'),
  };
  await writeSecrets(dataDir, secrets);
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

  const services: SupervisedChild[] = [];
  const clusters: Cluster[] = [];
  const stopAll = async () => {
    try {
      // Servers first (each closes its connections), then PostgreSQL.
      await Promise.all(
        services
          .splice(0)
          .map((s) =>
            s.stop().catch((e) => say(`while stopping a server: ${(e as Error).message}`)),
          ),
      );
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
    const secrets = await loadOrCreateSecrets(
      dataDir,
      ['subscriber', ...names].map((name) => ({ name, dir: path.join(dataDir, name) })),
    );
    const subscriberCluster = new Cluster({
      name: 'subscriber',
      dataDir: path.join(dataDir, 'subscriber'),
      port: opts.pgPorts.subscriber,
      superuserPassword: superuserPasswordOf(secrets, 'subscriber'),
      database: DATABASE,
      subscriptions: names.length,
    });
    const maxSlotWalKeepSize =
      opts.maxSlotWalKeepSize ??
      readConfig({ size: localSchema.maxSlotWalKeepSize }, process.env).size;
    const publisherClusters = names.map(
      (name, i) =>
        new Cluster({
          name,
          dataDir: path.join(dataDir, name),
          port: opts.pgPorts.publishers[i] ?? 0,
          superuserPassword: superuserPasswordOf(secrets, name),
          database: DATABASE,
          // A slot whose subscriber is gone would otherwise keep WAL until the disk is full.
          settings: [`max_slot_wal_keep_size=${maxSlotWalKeepSize}`],
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
    for (const c of all) c.supervise(say, opts.backoff);
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
    const common = {
      ...process.env,
      COLLECTOR_BODY_LIMIT: String(opts.bodyLimit),
      COLLECTOR_LOG_LEVEL: opts.logLevel,
      ...opts.env,
    };
    const child = (name: string, entry: string, portVariable: string, env: object) =>
      new SupervisedChild({
        name,
        script: path.join(projectRoot(), 'dist', entry),
        env: { ...common, ...env },
        portVariable,
        backoff: opts.backoff,
        log: say,
      });
    const apiDatabaseUrls = publisherClusters.map((c) =>
      databaseUrl('collector_publisher_api', secrets.roles.publisherApi, c.options.port),
    );
    const apis = publisherClusters.map((c, i) =>
      child(`${c.options.name} API`, 'publisher-api/main.js', 'COLLECTOR_PUBLISHER_PORT', {
        COLLECTOR_PUBLISHER_DATABASE_URL: apiDatabaseUrls[i],
        COLLECTOR_PUBLISHER_HOST: '127.0.0.1',
        COLLECTOR_PUBLISHER_PORT: String(opts.httpPorts.publishers[i] ?? 0),
      }),
    );
    const subscriberGatewayUrl = databaseUrl(
      'collector_gateway',
      secrets.roles.gateway,
      subscriberCluster.options.port,
    );
    const gateway = child('gateway', 'subscriber-graphql/main.js', 'COLLECTOR_GATEWAY_PORT', {
      COLLECTOR_SUBSCRIBER_DATABASE_URL: subscriberGatewayUrl,
      COLLECTOR_GATEWAY_HOST: '127.0.0.1',
      COLLECTOR_GATEWAY_PORT: String(opts.httpPorts.gateway),
      COLLECTOR_JWT_SECRET: jwtSecret,
      // The fleet monitor asks each publisher for its slot and lag as collector_lag, which may
      // only call collector_slot_lag() there (sql/publisher/013_lag_monitor.sql).
      COLLECTOR_PUBLISHER_MONITOR_URLS: publisherClusters
        .map(
          (c) =>
            `${c.options.name}=${databaseUrl('collector_lag', secrets.roles.lag as string, c.options.port)}`,
        )
        .join(','),
    });
    services.push(...apis, gateway);
    // In parallel: each process loads and starts on its own.
    await allSettledOrThrow(services.map((s) => s.start()));
    const publishers: LocalPublisher[] = publisherClusters.map((cluster, i) => ({
      name: cluster.options.name,
      url: apis[i]?.url as string,
      adminUrl: cluster.adminUrl,
      apiDatabaseUrl: apiDatabaseUrls[i] as string,
      pgPort: cluster.options.port,
      cluster,
      api: apis[i] as SupervisedChild,
    }));
    checkpoint();
    // Last, so that a generated password is only made once nothing else can fail.
    const generatedAdminPassword = await ensureAdmin(
      subscriberCluster.adminUrl,
      opts.adminPassword,
    );

    return {
      dataDir,
      publishers,
      gatewayUrl: gateway.url as string,
      subscriberAdminUrl: subscriberCluster.adminUrl,
      subscriberGatewayUrl,
      subscriberCluster,
      gateway,
      jwtSecret,
      production: isProduction(common),
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
