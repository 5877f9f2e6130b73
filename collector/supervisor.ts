/**
 * Keeps the local collector's processes running, as an orchestrator would in a deployment: each
 * publisher API and the gateway is its own child process (the same entry points compose runs), so
 * a crash, a hang or a flood in one never reaches the others. A child or a PostgreSQL server that
 * dies is restarted with exponential backoff, and every death and restart is reported.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** Restart delays: doubling from `initialMs` up to `maxMs`; a run longer than `stableMs` resets. */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  stableMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 30_000, stableMs: 30_000 };

/**
 * Runs `attempt` again after each failure or crash, waiting longer each time. Shared by child
 * processes and PostgreSQL servers.
 */
export class Backoff {
  private failures = 0;
  private upSince = 0;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly opts: BackoffOptions = DEFAULT_BACKOFF) {}

  /** Call when the process came up: a long enough run forgives earlier failures. */
  up(): void {
    this.upSince = Date.now();
  }

  /** Schedules `attempt` after the next delay; returns the delay, or undefined once stopped. */
  schedule(attempt: () => void): number | undefined {
    if (this.stopped) return undefined;
    if (this.upSince && Date.now() - this.upSince >= this.opts.stableMs) this.failures = 0;
    this.upSince = 0;
    const delay = Math.min(this.opts.initialMs * 2 ** this.failures, this.opts.maxMs);
    this.failures += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(attempt, delay);
    return delay;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}

export interface ChildSpec {
  /** Shown in messages: "pub1 API", "gateway". */
  name: string;
  /** A compiled entry point (dist/…/main.js) that calls `runService`. */
  script: string;
  env: Record<string, string | undefined>;
  /**
   * The variable that holds the child's port. A child started on port 0 picks a free one; its
   * restarts keep that port, so its URL never changes.
   */
  portVariable: string;
  backoff?: BackoffOptions;
  /** Where the child's own output and the supervisor's reports go, line by line. */
  log?: (line: string) => void;
}

/** What a child sends over IPC once it listens (common/service.ts). */
interface ReadyMessage {
  type: 'ready';
  url: string;
}

const isReady = (m: unknown): m is ReadyMessage =>
  typeof m === 'object' && m !== null && (m as ReadyMessage).type === 'ready';

/** One supervised child process. */
export class SupervisedChild {
  private child?: ChildProcess;
  private readonly backoff: Backoff;
  private readonly env: Record<string, string | undefined>;
  private stopping = false;
  private lastLines: string[] = [];
  /** The child's URL, once it has listened. */
  url?: string;
  /** How many times it was restarted after dying. */
  restarts = 0;

  constructor(private readonly spec: ChildSpec) {
    this.backoff = new Backoff(spec.backoff);
    this.env = { ...spec.env };
  }

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null
      ? this.child.pid
      : undefined;
  }

  private say(line: string): void {
    this.spec.log?.(line);
  }

  /** Starts the child and resolves with its URL once it listens; rejects if it exits first. */
  start(): Promise<string> {
    if (!existsSync(this.spec.script)) {
      return Promise.reject(
        new Error(`${this.spec.script} is missing: build first (npm run build).`),
      );
    }
    return new Promise((resolve, reject) => {
      // Its own process group: a Ctrl-C in the terminal reaches only the launcher, which then
      // stops the children in order. If the launcher itself dies, the IPC channel closes and the
      // child stops on its own (common/service.ts).
      const child = fork(this.spec.script, [], {
        env: this.env,
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        detached: true,
      });
      this.child = child;
      this.lastLines = [];
      for (const stream of [child.stdout, child.stderr]) {
        if (!stream) continue;
        createInterface({ input: stream }).on('line', (line) => {
          this.lastLines.push(line);
          if (this.lastLines.length > 30) this.lastLines.shift();
          this.say(`[${this.spec.name}] ${line}`);
        });
      }
      let ready = false;
      child.on('message', (m) => {
        if (ready || !isReady(m)) return;
        ready = true;
        this.url = m.url;
        const port = new URL(m.url).port;
        if (port) this.env[this.spec.portVariable] = port;
        this.backoff.up();
        resolve(m.url);
      });
      // Every 'error', not just the first: an unhandled one would crash the launcher.
      child.on('error', (e) => {
        if (!ready) reject(new Error(`Cannot run ${this.spec.name}: ${e.message}`));
        else this.say(`${this.spec.name}: ${e.message}`);
      });
      child.once('exit', (code, signal) => {
        const how = signal ? `signal ${signal}` : `code ${code}`;
        if (!ready) {
          // Give the output a moment to drain, so the reason is in the message.
          setTimeout(
            () =>
              reject(
                new Error(
                  `${this.spec.name} exited during start (${how}):\n${this.lastLines.join('\n')}`,
                ),
              ),
            50,
          );
        }
        if (ready && !this.stopping) this.scheduleRestart(`died (${how})`);
      });
    });
  }

  private scheduleRestart(reason: string): void {
    const delay = this.backoff.schedule(() => {
      if (this.stopping) return;
      this.restarts += 1;
      this.start().then(
        (url) => this.say(`${this.spec.name} restarted (restart ${this.restarts}) at ${url}`),
        (e: Error) => this.scheduleRestart(`failed to restart: ${e.message.split('\n')[0]}`),
      );
    });
    if (delay !== undefined) {
      this.say(`${this.spec.name} ${reason}; restarting in ${(delay / 1000).toFixed(2)} s`);
    }
  }

  /** SIGTERM, then SIGKILL after `timeoutMs`: the child closes its server and its pool. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopping = true;
    this.backoff.stop();
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      this.say(`${this.spec.name} did not stop within ${timeoutMs / 1000} s: killing it`);
      child.kill('SIGKILL');
    }, timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  /** Immediate, synchronous kill (a second Ctrl-C, or the launcher exiting). */
  killNow(): void {
    this.stopping = true;
    this.backoff.stop();
    if (this.pid !== undefined) this.child?.kill('SIGKILL');
  }
}
