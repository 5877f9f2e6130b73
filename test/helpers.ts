import { randomUUID } from 'node:crypto';
import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
} from 'kysely';
import pg from 'pg';
import { inject } from 'vitest';
import { startPublisherApi } from '../publisher-api/start.js';
import { startGateway } from '../subscriber-graphql/start.js';

export const collector = () => inject('collector');

/** A tag unique to one test, put into the data it writes so it can find exactly its rows. */
export const uniqueTag = (prefix = 't') => `${prefix}-${randomUUID()}`;

export interface HttpResult<T = unknown> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

/** How long `http()` waits for a whole response unless the caller passes its own `signal`. */
export const HTTP_TIMEOUT_MS = 20_000;

export async function http<T = unknown>(
  url: string,
  init: RequestInit & { json?: unknown } = {},
): Promise<HttpResult<T>> {
  const { json, ...rest } = init;
  // A hung server fails the test that called it instead of hanging the whole run.
  const signal = rest.signal ?? AbortSignal.timeout(HTTP_TIMEOUT_MS);
  const headers = new Headers(rest.headers);
  let body = rest.body;
  if (json !== undefined) {
    headers.set('content-type', 'application/json');
    body = JSON.stringify(json);
  }
  const res = await fetch(url, { ...rest, headers, body, signal });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed as T, text, headers: res.headers };
}

export interface GqlResponse<T = Record<string, unknown>> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

export async function gql<T = Record<string, unknown>>(
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
  scheme = 'Bearer',
): Promise<HttpResult<GqlResponse<T>>> {
  return http<GqlResponse<T>>(`${collector().gatewayUrl}/graphql`, {
    method: 'POST',
    headers: token ? { authorization: `${scheme} ${token}` } : {},
    json: { query, variables },
  });
}

let cachedToken: string | undefined;

export async function adminToken(): Promise<string> {
  if (cachedToken) return cachedToken;
  const res = await http<{ token: string }>(`${collector().gatewayUrl}/login`, {
    method: 'POST',
    json: { username: 'admin', password: collector().adminPassword },
  });
  if (res.status !== 200) throw new Error(`login failed: ${res.text}`);
  cachedToken = res.body.token;
  return cachedToken;
}

export async function postDatum(publisherUrl: string, data: unknown) {
  return http<{ id: string; publisher: string; data: unknown; createdAt: string }>(
    `${publisherUrl}/data/`,
    { method: 'POST', json: { data } },
  );
}

/** Polls `probe` until it returns a value other than undefined, or fails after the deadline. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs `fn` with a pg client on `url`, always closing it. */
export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Waits until a datum is visible on the subscriber (replicated). */
export async function replicated(id: string): Promise<void> {
  await waitFor(`datum ${id} on the subscriber`, () =>
    withClient(collector().subscriberAdminUrl, async (c) => {
      const { rowCount } = await c.query('SELECT 1 FROM data WHERE id = $1', [id]);
      return rowCount ? true : undefined;
    }),
  );
}

/** Stores `data` on the first publisher and waits until it has replicated; returns its id. */
export async function replicatedDatum(data: unknown): Promise<string> {
  const pub = collector().publishers[0] as { url: string };
  const created = await postDatum(pub.url, data);
  if (created.status !== 201) throw new Error(`POST failed: ${created.text}`);
  await replicated(created.body.id);
  return created.body.id;
}

type ApiConfig = Parameters<typeof startPublisherApi>[0];
type GatewayConfig = Parameters<typeof startGateway>[0];

/** A publisher API of the test's own, in this process, on publisher 1 unless told otherwise. */
export function startTestApi(overrides: Partial<ApiConfig> = {}) {
  return startPublisherApi({
    databaseUrl: (collector().publishers[0] as { apiDatabaseUrl: string }).apiDatabaseUrl,
    host: '127.0.0.1',
    port: 0,
    bodyLimit: 1024 * 1024,
    logLevel: 'silent',
    ...overrides,
  });
}

/** A gateway of the test's own, in this process, on the shared subscriber. */
export function startTestGateway(overrides: Partial<GatewayConfig> = {}) {
  return startGateway({
    databaseUrl: collector().subscriberGatewayUrl,
    host: '127.0.0.1',
    port: 0,
    jwtSecret: collector().jwtSecret,
    jwtTtlSeconds: 60,
    bodyLimit: 1024 * 1024,
    logLevel: 'silent',
    production: false,
    ...overrides,
  });
}

/** A Kysely that only compiles (no database): for pinning the SQL and parameters a builder makes. */
export function sqlCompiler<DB>(): Kysely<DB> {
  return new Kysely<DB>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => new PostgresIntrospector(db),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  });
}
