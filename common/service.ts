import { ConfigError } from './env.js';

export interface RunningService {
  url: string;
  stop(): Promise<void>;
}

/**
 * Calls `fn` once on the first SIGINT, SIGTERM or SIGHUP; a second signal exits at once.
 */
export function onShutdown(fn: (signal: string) => Promise<void>): void {
  let stopping = false;
  // SIGHUP too: a closed terminal must not leave the PostgreSQL servers (own process group) running.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (stopping) {
        process.exit(130);
      }
      stopping = true;
      fn(signal).then(
        () => process.exit(0),
        (e) => {
          console.error(e);
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
  onShutdown(() => service.stop());
}
