import { chmod, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { killAllNow } from '../collector/cluster.js';
import { type LocalCollector, type LocalOptions, startLocalCollector } from '../collector/local.js';
import { freeRange } from '../common/ports.js';
import { post, type Response } from './load.js';

export interface Stats {
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  n: number;
}

export function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
  return {
    p50: at(0.5),
    p95: at(0.95),
    p99: at(0.99),
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    n: s.length,
  };
}

/** A Markdown table, so the output can be pasted into the README as is. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [
    line(head),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}

// One keep-alive connection, like a script posting rows one after another; node:http rather than
// fetch, whose own overhead (about 1 ms a request here) would be measured instead of the server's.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** A JSON POST on the keep-alive agent, with any extra headers (an Authorization token, say). */
export function postJson(
  url: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return post(agent, url, body, { ...headers, 'content-type': 'application/json' });
}

/** One GraphQL request over HTTP; throws on an HTTP error or a GraphQL `errors` list. */
export async function graphql<T>(
  gatewayUrl: string,
  token: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<T> {
  const res = await postJson(`${gatewayUrl}/graphql`, JSON.stringify({ query, variables }), {
    authorization: `Bearer ${token}`,
  });
  const parsed = JSON.parse(res.text) as { data?: T; errors?: Array<{ message: string }> };
  if (res.status !== 200 || parsed.errors?.length || !parsed.data) {
    throw new Error(`GraphQL failed (HTTP ${res.status}): ${res.text.slice(0, 500)}`);
  }
  return parsed.data;
}

/**
 * A fresh local collector in a temporary directory for one benchmark run, with `publishers`
 * publishers on free ports. `cleanup()` stops it and removes its data; Ctrl-C does the same before
 * exiting, and an abrupt exit at least kills its PostgreSQL servers.
 */
export async function benchCollector(
  label: string,
  publishers: number,
  options: Partial<LocalOptions> = {},
): Promise<{
  dataDir: string;
  start: () => Promise<LocalCollector>;
  cleanup: () => Promise<void>;
}> {
  process.once('exit', killAllNow);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `collector-bench-${label}-`));
  await chmod(dataDir, 0o755);
  let collector: LocalCollector | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = () => {
    cleaning ??= (async () => {
      await collector
        ?.stop()
        .catch((e) => process.stderr.write(`while stopping: ${(e as Error).message}\n`));
      await rm(dataDir, { recursive: true, force: true });
    })();
    return cleaning;
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`${signal}: stopping the collector...\n`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  const start = async () => {
    const base = await freeRange(publishers + 1);
    collector = await startLocalCollector({
      dataDir,
      publishers,
      pgPorts: {
        subscriber: base,
        publishers: Array.from({ length: publishers }, (_, i) => base + 1 + i),
      },
      httpPorts: { gateway: 0, publishers: Array.from({ length: publishers }, () => 0) },
      adminPassword: BENCH_ADMIN_PASSWORD,
      bodyLimit: 1024 * 1024,
      logLevel: 'silent',
      ...options,
    });
    return collector;
  };
  return { dataDir, start, cleanup };
}

export const BENCH_ADMIN_PASSWORD = 'bench-admin-password';

/** A gateway token for user "admin" of a bench collector. */
export async function benchToken(gatewayUrl: string): Promise<string> {
  const login = await postJson(
    `${gatewayUrl}/login`,
    JSON.stringify({ username: 'admin', password: BENCH_ADMIN_PASSWORD }),
  );
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${login.text}`);
  return (JSON.parse(login.text) as { token: string }).token;
}

/** Runs a benchmark's main: exit 0 when it finishes, 1 with the error when it fails. */
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
