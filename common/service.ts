import { ConfigError } from './env.js';

export interface RunningService {
  url: string;
  stop(): Promise<void>;
}

/**
 * Calls `stop` once on the first SIGINT, SIGTERM or SIGHUP, then exits. A second signal while
 * stopping calls `force` (which must be synchronous) and exits at once.
 */
export function onShutdown(stop: (signal: string) => Promise<void>, force?: () => void): void {
  let stopping = false;
  // SIGHUP too: a closed terminal must not leave the PostgreSQL servers (own process group) running.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (stopping) {
        force?.();
        process.exit(130);
      }
      stopping = true;
      stop(signal).then(
        () => process.exit(0),
        (e) => {
          console.error(e instanceof Error ? e.message : e);
          force?.();
          process.exit(1);
        },
      );
    });
  }
}

/** Runs one long-lived server process: clear config errors, graceful stop on signals. */
export async function runService(name: string, start: () => Promise<RunningService>) {
  let service: RunningService;
  try {
    service = await start();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`${name}: ${e.message}`);
      process.exit(2);
    }
    console.error(`${name}: failed to start: ${(e as Error).message}`);
    process.exit(1);
  }
  console.log(`${name} listening on ${service.url}`);
  // Under the local launcher (collector/supervisor.ts): say where we listen, and stop when the
  // launcher goes away (its IPC channel closes), so that no orphan keeps a port.
  process.send?.({ type: 'ready', url: service.url });
  const stop = () => {
    // A pool that cannot end (a server that stopped answering) must not keep the process alive.
    setTimeout(() => {
      console.error(`${name}: did not stop within ${STOP_TIMEOUT_MS / 1000} s; exiting`);
      process.exit(1);
    }, STOP_TIMEOUT_MS).unref();
    return service.stop();
  };
  process.once('disconnect', () => {
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
  onShutdown(stop);
}

const STOP_TIMEOUT_MS = 8_000;
