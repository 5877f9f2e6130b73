/**
 * Test and benchmark data directories live in the system temp folder, each with the PID of the
 * process that owns it. A run that was interrupted (Ctrl-C, CI timeout, kill -9) cannot tear
 * down; the next run stops what it left and removes its directory. A directory whose owner is
 * still alive (a concurrent run) is left alone.
 */
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { Cluster, isAlive } from '../collector/cluster.js';

export const SCRATCH_PREFIX = 'collector-scratch-';
const OWNER = 'owner.pid';

/** A new scratch directory owned by this process, reachable by the postgres system user. */
export async function scratchDir(label: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), `${SCRATCH_PREFIX}${label}-`));
  await chmod(dir, 0o755);
  // Host name too: on a /tmp shared between machines or containers, PIDs mean nothing.
  await writeFile(path.join(dir, OWNER), `${process.pid} ${hostname()}\n`);
  return dir;
}

/** The owner of a scratch directory, if it was made on this host. */
async function ownerOf(dir: string): Promise<{ pid: number } | 'foreign' | 'unknown'> {
  const text = await readFile(path.join(dir, OWNER), 'utf8').catch(() => '');
  const [pid, host] = text.trim().split(' ');
  if (!pid) return 'unknown';
  return host === hostname() ? { pid: Number(pid) } : 'foreign';
}

async function pidIn(file: string): Promise<number> {
  return Number((await readFile(file, 'utf8').catch(() => '0')).trim()) || 0;
}

/** Only a `collector start` is ever signalled: a recorded PID may have been reused since. */
function isLauncher(pid: number): boolean {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('cli.js') && cmd.includes('start');
  } catch {
    return false;
  }
}

async function sweepOne(dir: string, say: (m: string) => void): Promise<void> {
  // A collector launcher (npm start under test) still running from here: ask it to stop.
  const launcher = await pidIn(path.join(dir, 'collector.pid'));
  if (launcher && isAlive(launcher) && isLauncher(launcher)) {
    process.kill(launcher, 'SIGTERM');
    for (let i = 0; i < 100 && isAlive(launcher); i++) await new Promise((r) => setTimeout(r, 100));
  }
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const cluster = new Cluster({
      name,
      dataDir: path.join(dir, name),
      port: 0,
      superuserPassword: '',
      database: '',
    });
    const pid = await cluster.runningPid();
    if (pid !== undefined) {
      say(`stopping PostgreSQL ${pid} left by an interrupted run in ${dir}`);
      await cluster.stop().catch(() => {});
    }
  }
  await rm(dir, { recursive: true, force: true });
}

export async function sweepAbandoned(say: (m: string) => void = console.log): Promise<void> {
  for (const name of await readdir(tmpdir())) {
    if (!name.startsWith(SCRATCH_PREFIX)) continue;
    const dir = path.join(tmpdir(), name);
    const owner = await ownerOf(dir);
    if (owner === 'foreign' || (owner !== 'unknown' && isAlive(owner.pid))) continue;
    // No owner yet: maybe a run that is creating it right now. Only sweep it once it is old.
    if (owner === 'unknown' && Date.now() - (await stat(dir)).mtimeMs < 3_600_000) continue;
    await sweepOne(dir, say);
  }
}

function readPidSync(file: string): number {
  try {
    return Number(readFileSync(file, 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}

function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

const LAUNCHERS = 'launchers.pid';

/** Notes the PID of a `collector start` a test spawned on `dir`, for stopScratchLaunchersNow. */
export function recordLauncher(dir: string, pid: number | undefined): void {
  if (pid) appendFileSync(path.join(dir, LAUNCHERS), `${pid}\n`);
}

/**
 * Synchronous, for an 'exit' handler of the main test process: asks every `collector start`
 * launched from a scratch directory of this run (owned by us or by one of our workers, or by a
 * process already gone) to stop. Each launcher then stops its own PostgreSQL servers.
 */
export function stopScratchLaunchersNow(): void {
  let names: string[];
  try {
    names = readdirSync(tmpdir()).filter((n) => n.startsWith(SCRATCH_PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const dir = path.join(tmpdir(), name);
    const [ownerText, host] = (() => {
      try {
        return readFileSync(path.join(dir, OWNER), 'utf8').trim().split(' ');
      } catch {
        return [];
      }
    })();
    const owner = Number(ownerText) || 0;
    if (!owner || host !== hostname()) continue;
    const ours = owner === process.pid || !isAlive(owner) || parentOf(owner) === process.pid;
    if (!ours) continue;
    // Launchers still loading have not written collector.pid yet: use the PIDs the tests noted.
    let noted: number[] = [];
    try {
      noted = readFileSync(path.join(dir, LAUNCHERS), 'utf8').split('\n').map(Number);
    } catch {
      // none noted
    }
    for (const pid of new Set([readPidSync(path.join(dir, 'collector.pid')), ...noted])) {
      if (pid > 0 && isAlive(pid) && isLauncher(pid)) process.kill(pid, 'SIGTERM');
    }
  }
}
