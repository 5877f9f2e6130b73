/** What several `collector` commands share: failing with a message, stdin, the local collector. */
import path from 'node:path';
import { readConfig } from '../../common/env.js';
import { localSchema } from '../config.js';
import { type LocalSecrets, readSecrets, superuserPasswordOf } from '../local.js';

/** A usage or configuration error (exit code 2), or a failure of the command itself (1). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** The local collector of npm start, located by the same two settings it was started with. */
export async function localCollector(): Promise<{
  dataDir: string;
  pgPortBase: number;
  secrets: LocalSecrets;
}> {
  const cfg = readConfig(
    { dataDir: localSchema.dataDir, pgPortBase: localSchema.pgPortBase },
    process.env,
  );
  const dataDir = path.resolve(cfg.dataDir);
  const secrets = await readSecrets(dataDir);
  if (!secrets) {
    throw new CliError(
      `no database given: pass --database-url, set the variable named in --help, or run npm start first (no local collector in ${dataDir})`,
      2,
    );
  }
  return { dataDir, pgPortBase: cfg.pgPortBase, secrets };
}

/** A superuser URL of the local collector's subscriber (`0`) or publisher `index` (1, 2, ...). */
export async function localAdminUrl(index: number): Promise<string> {
  const { pgPortBase, secrets } = await localCollector();
  const password = superuserPasswordOf(secrets, index === 0 ? 'subscriber' : `pub${index}`);
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${pgPortBase + index}/collector`;
}

/** Runs `work`; a refused connection to the local collector says to start it first. */
export async function withLocalHint<T>(local: boolean, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (local && (e as { code?: string }).code === 'ECONNREFUSED') {
      throw new CliError(
        "cannot reach the local collector's databases: start it first (npm start)",
      );
    }
    throw e;
  }
}
