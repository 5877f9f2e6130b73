/**
 * The HTTP base shared by the publisher's REST API and the gateway: one mapping from every
 * failure to a code and a status, sent as `{ "error": { "code", "message" } }` (REST) or, under
 * the GraphQL path, as `{ "errors": [{ "message", "extensions": { "code" } }] }`.
 */

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { createSecureContext, Server as TlsServer } from 'node:tls';
import cors from '@fastify/cors';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { deadline } from './deadline.js';
import {
  ConfigError,
  duration,
  int,
  invalid,
  isProduction,
  type LogLevel,
  readConfig,
  type Setting,
} from './env.js';
import { AppError, type ErrorCode, toAppError } from './errors.js';
import type { RunningService } from './service.js';

/** Any port on this machine: where a page under development is served from. */
const LOCAL_ORIGIN = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/;

/**
 * Which web pages (origins) may call the APIs from a browser. Tokens travel in the Authorization
 * header, never in cookies, so CORS only decides which pages may read the answers. Unset: pages on
 * this machine (any port) outside production, none in production.
 */
const corsOrigins: Setting<Array<string | RegExp>> = {
  name: 'COLLECTOR_CORS_ORIGINS',
  description:
    'comma-separated origins allowed to call from a browser (https://app.example.com), or *',
  parse(raw, env) {
    if (raw === undefined) return isProduction(env) ? [] : [LOCAL_ORIGIN];
    const list = raw
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean);
    for (const origin of list) {
      if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
        throw invalid(`"${origin}" is not an origin like https://app.example.com (no path)`);
      }
    }
    return list;
  },
};

/** Reads a PEM file named by a setting, or throws a one-line message naming the setting. */
function readPem(setting: string, file: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (e) {
    throw invalid(
      `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  if (!pem.includes('-----BEGIN ')) throw invalid(`${file} is not a PEM file (${setting})`);
  return pem;
}

/**
 * A certificate or key file to serve HTTPS with: both or neither. Read (and checked) at start-up,
 * so that a missing or unreadable file stops the process with a line naming the variable.
 */
function tlsFile(name: string, other: string, what: string): Setting<string | undefined> {
  return {
    name,
    description: `${what} (PEM file) to serve HTTPS directly, with ${other}; unset: plain HTTP`,
    parse(raw, env) {
      if (raw === undefined) {
        if (env[other]) throw invalid(`is required when ${other} is set: give both or neither`);
        return undefined;
      }
      readPem(name, raw);
      return raw;
    },
  };
}

/**
 * HTTPS served by the process itself (COLLECTOR_TLS_CERT and COLLECTOR_TLS_KEY), for a deployment
 * without a TLS-terminating proxy in front. Part of every server's schema, as the limits below.
 */
export const tlsSchema = {
  tlsCert: tlsFile(
    'COLLECTOR_TLS_CERT',
    'COLLECTOR_TLS_KEY',
    'certificate, with its chain, of this server',
  ),
  tlsKey: tlsFile('COLLECTOR_TLS_KEY', 'COLLECTOR_TLS_CERT', 'private key of the certificate'),
};

/** The `https` options for Fastify, or undefined for plain HTTP; errors name the variables. */
export function tlsOptions(opts: {
  tlsCert?: string;
  tlsKey?: string;
}): { cert: Buffer; key: Buffer } | undefined {
  if (!opts.tlsCert && !opts.tlsKey) return undefined;
  const problems: string[] = [];
  const read = (name: string, file: string | undefined) => {
    if (!file) {
      problems.push(`${name}: is required when the other TLS file is set: give both or neither`);
      return Buffer.alloc(0);
    }
    try {
      return readPem(name, file);
    } catch (e) {
      problems.push(`${name}: ${(e as Error).message}`);
      return Buffer.alloc(0);
    }
  };
  const cert = read('COLLECTOR_TLS_CERT', opts.tlsCert);
  const key = read('COLLECTOR_TLS_KEY', opts.tlsKey);
  if (problems.length === 0) {
    try {
      createSecureContext({ cert, key });
    } catch (e) {
      problems.push(
        `COLLECTOR_TLS_CERT, COLLECTOR_TLS_KEY: not a usable certificate and key (${(e as Error).message})`,
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { cert, key };
}

/**
 * The reverse proxies whose X-Forwarded-For the server believes. Unset: none, so `request.ip` is
 * the connecting address and a client cannot pick its own address for the login throttle by
 * sending the header. Fastify (proxy-addr) takes the rightmost address not in this list.
 */
const trustedProxies: Setting<string[]> = {
  name: 'COLLECTOR_TRUSTED_PROXIES',
  description:
    'comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For names the real client (10.0.0.5,10.1.0.0/16); unset: none',
  parse(raw) {
    if (raw === undefined) return [];
    const list = raw
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    for (const entry of list) {
      const [address = '', bits, ...rest] = entry.split('/');
      const family = isIP(address);
      const max = family === 4 ? 32 : 128;
      const badBits =
        bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > max || rest.length > 0);
      if (family === 0 || badBits) {
        throw invalid(`"${entry}" is not an IP address or CIDR like 10.0.0.5 or 10.1.0.0/16`);
      }
    }
    return list;
  },
};

/**
 * What one client may hold of a server, shared by the publishers' APIs and the gateway. Without
 * these, a body sent one byte every few seconds is never cut off, and enough such connections
 * exhaust the process's file descriptors.
 */
export const serverLimitsSchema = {
  requestTimeoutMs: duration(
    'COLLECTOR_REQUEST_TIMEOUT',
    'longest time to receive one whole request, body included (408 after it)',
    30_000,
    { min: 1000 },
  ),
  headersTimeoutMs: duration(
    'COLLECTOR_HEADERS_TIMEOUT',
    'longest time to receive the headers of a request',
    10_000,
    { min: 1000 },
  ),
  keepAliveTimeoutMs: duration(
    'COLLECTOR_KEEP_ALIVE_TIMEOUT',
    'an idle keep-alive connection is closed after this long',
    5_000,
    { min: 100 },
  ),
  idleTimeoutMs: duration(
    'COLLECTOR_IDLE_TIMEOUT',
    'a connection on which nothing moves for this long is closed, even mid-request',
    60_000,
    { min: 1000 },
  ),
  maxConnections: int('COLLECTOR_MAX_CONNECTIONS', 'most open connections per server', {
    default: 1000,
    min: 1,
  }),
  corsOrigins,
  trustedProxies,
  ...tlsSchema,
};

export interface ServerLimits {
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnections: number;
  corsOrigins: Array<string | RegExp>;
  trustedProxies: string[];
  /** Certificate and key files: HTTPS when both are set. */
  tlsCert?: string;
  tlsKey?: string;
}

/** A service config whose server limits and statement timeout may be left to their defaults. */
export type LimitsOptional<C> = Omit<C, keyof ServerLimits | 'statementTimeoutMs'> &
  Partial<ServerLimits> & { statementTimeoutMs?: number };

/** The documented defaults, for servers built without a full config (tests, benchmarks). */
const DEFAULT_LIMITS: ServerLimits = readConfig(serverLimitsSchema, {});

export interface HttpOptions extends Partial<ServerLimits> {
  bodyLimit: number;
  logLevel: LogLevel;
  /** Requests under this path get GraphQL-shaped errors: `{ "errors": [{ message, extensions }] }`. */
  graphqlPath?: string;
}

const FASTIFY_CODES: Record<string, (e: FastifyError, opts: HttpOptions) => AppError> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (e) =>
    new AppError(
      'UNSUPPORTED_MEDIA_TYPE',
      `${e.message}. Send the body as JSON with the header "Content-Type: application/json".`,
    ),
  FST_ERR_CTP_BODY_TOO_LARGE: (_e, opts) =>
    new AppError(
      'PAYLOAD_TOO_LARGE',
      `The body is larger than the limit of ${opts.bodyLimit} bytes (COLLECTOR_BODY_LIMIT).`,
    ),
  FST_ERR_CTP_EMPTY_JSON_BODY: () =>
    new AppError('BAD_USER_INPUT', 'The request body is empty, but its Content-Type says JSON.'),
  FST_ERR_CTP_INVALID_JSON_BODY: (e) =>
    new AppError('BAD_USER_INPUT', `Malformed JSON: ${e.message}`),
};

const CODE_FOR_STATUS: Record<number, ErrorCode> = {
  400: 'BAD_USER_INPUT',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

export function sendError(reply: FastifyReply, error: AppError, graphql = false): FastifyReply {
  if (error.retryAfterSeconds !== undefined) {
    reply.header('retry-after', String(error.retryAfterSeconds));
  }
  return reply
    .status(error.status)
    .type('application/json; charset=utf-8')
    .send(
      graphql
        ? { errors: [{ message: error.message, extensions: { code: error.code } }] }
        : { error: { code: error.code, message: error.message } },
    );
}

/**
 * An X-Request-Id a client or proxy sent is kept when it looks like an id (so one id follows a
 * request through proxies and logs); anything else (too long, spaces, control characters) is
 * replaced by a fresh UUID rather than copied into every log line.
 */
const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

function requestId(req: { headers: Record<string, string | string[] | undefined> }): string {
  const sent = req.headers['x-request-id'];
  return typeof sent === 'string' && REQUEST_ID.test(sent) ? sent : randomUUID();
}

export function createHttpServer(options: HttpOptions): FastifyInstance {
  const opts = { ...DEFAULT_LIMITS, ...options };
  const httpOptions = {
    // Node checks the request and header deadlines only this often (30 s by default).
    connectionsCheckingInterval: Math.min(1000, opts.headersTimeoutMs),
    headersTimeout: Math.min(opts.headersTimeoutMs, opts.requestTimeoutMs),
  };
  const tls = tlsOptions(opts);
  // One factory for both: Fastify's `https` server takes the http.Server options too.
  const app = Fastify({
    ...(tls ? { https: { ...httpOptions, ...tls } } : { http: httpOptions }),
    bodyLimit: opts.bodyLimit,
    // JSON lines (pino), each request's with its `reqId`.
    logger: { level: opts.logLevel },
    genReqId: requestId,
    requestIdHeader: false,
    requestTimeout: opts.requestTimeoutMs,
    keepAliveTimeout: opts.keepAliveTimeoutMs,
    connectionTimeout: opts.idleTimeoutMs,
    routerOptions: { ignoreTrailingSlash: true },
    trustProxy: opts.trustedProxies.length > 0 ? opts.trustedProxies : false,
    // Clients may store any JSON, including keys named "__proto__" or "constructor". JSON.parse
    // makes them own properties (no prototype pollution), and we only serialize them back.
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
  }) as unknown as FastifyInstance;

  // Silent (benchmarks, some deployments): a request's logger is the app's own. Fastify otherwise
  // makes a pino child with the request id for every request, to log nothing.
  if (opts.logLevel === 'silent') app.setChildLoggerFactory((logger) => logger);

  const origins = opts.corsOrigins;
  if (origins.length > 0) {
    void app.register(cors, {
      origin: origins.includes('*') ? '*' : origins,
      methods: ['GET', 'POST', 'OPTIONS'],
      allowedHeaders: [
        'content-type',
        'authorization',
        'idempotency-key',
        'apollo-require-preflight',
        'x-apollo-operation-name',
      ],
      maxAge: 600,
    });
  }

  // Every answer says which id its log lines carry.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });

  // Beyond the cap, Node closes new connections at once: the ones already open keep working.
  app.server.maxConnections = opts.maxConnections;

  // ignoreTrailingSlash routes /graphql/ to Apollo too.
  const isGraphql = (url: string) =>
    opts.graphqlPath !== undefined && url.split('?')[0]?.replace(/\/$/, '') === opts.graphqlPath;

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const mapped =
      toAppError(error) ??
      (error.code && FASTIFY_CODES[error.code]?.(error, opts)) ??
      (error.statusCode && error.statusCode < 500
        ? new AppError(CODE_FOR_STATUS[error.statusCode] ?? 'BAD_USER_INPUT', error.message)
        : undefined);
    if (mapped) {
      if (mapped.status >= 500) request.log.warn({ err: error }, mapped.message);
      return sendError(reply, mapped, isGraphql(request.url));
    }
    request.log.error({ err: error }, 'unhandled error');
    return sendError(
      reply,
      new AppError('INTERNAL_SERVER_ERROR', 'Internal error; it has been logged on the server.'),
      isGraphql(request.url),
    );
  });

  // Which methods each route pattern answers, to tell "wrong method" (405 with Allow) from "no
  // such path" (404).
  const routes: Array<{ pattern: RegExp; methods: Set<string> }> = [];
  app.addHook('onRoute', (route) => {
    // Catch-alls (the CORS preflight route) say nothing about a path.
    if (route.url.includes('*')) return;
    const pattern = new RegExp(
      `^${route.url
        .replace(/\/$/, '')
        .replace(/:[^/]+/g, '[^/]+')
        .replace(/\*/g, '.*')}/?$`,
    );
    const methods = ([] as string[]).concat(route.method);
    const known = routes.find((r) => r.pattern.source === pattern.source);
    if (known) for (const m of methods) known.methods.add(m);
    else routes.push({ pattern, methods: new Set(methods) });
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    const allowed = [
      ...new Set(routes.filter((r) => r.pattern.test(path)).flatMap((r) => [...r.methods])),
    ];
    if (allowed.length > 0) {
      return sendError(
        reply.header('allow', allowed.sort().join(', ')),
        new AppError(
          'METHOD_NOT_ALLOWED',
          `${request.method} is not allowed on ${path}: use ${allowed.join(' or ')}`,
        ),
        isGraphql(request.url),
      );
    }
    return sendError(reply, new AppError('NOT_FOUND', `No route ${request.method} ${path}`));
  });

  return app;
}

function whyUnreachable(e: unknown): string {
  const code = (e as { code?: string } | null)?.code ?? '';
  const message = (e as Error | null)?.message ?? '';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (/timeout|no answer within/i.test(message)) return 'no answer in time';
  if (code === '28P01' || code === '28000') return 'authentication refused';
  if (code.startsWith('57P') || code.startsWith('08')) return 'shutting down or restarting';
  if (code.startsWith('53')) return 'too many connections';
  return 'error';
}

/**
 * `GET /health`: the process is up and serving; it checks nothing else, so an orchestrator never
 * restarts a healthy process because its database is away. `GET /ready`: the database answers
 * (`what` names it), 503 with the reason otherwise: the signal to route traffic here or not.
 */
export function registerHealth(app: FastifyInstance, db: Kysely<unknown>, what = 'database'): void {
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (request, reply) => {
    try {
      await deadline(sql`SELECT 1`.execute(db), 5000, 'no answer within 5 s');
      return { status: 'ready', database: 'reachable' };
    } catch (e) {
      // The probe is open to anyone: the reason in general terms, the details in the log.
      request.log.warn({ err: e }, `readiness: the ${what} does not answer`);
      return reply.status(503).send({
        status: 'unavailable',
        database: 'unreachable',
        error: {
          code: 'SERVICE_UNAVAILABLE',
          message: `The ${what} does not answer (${whyUnreachable(e)}); details are in this server's log.`,
        },
      });
    }
  });
}

/**
 * Listens and returns the service's URL and a stop function that closes the server, then runs
 * `cleanup` (pools). On a failed listen, runs `cleanup` and rethrows.
 */
export async function listen(
  app: FastifyInstance,
  where: { host: string; port: number },
  cleanup: () => Promise<void>,
): Promise<RunningService> {
  try {
    await app.listen(where);
  } catch (e) {
    await cleanup();
    throw e;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : where.port;
  const host = where.host === '0.0.0.0' ? '127.0.0.1' : where.host;
  const scheme = app.server instanceof TlsServer ? 'https' : 'http';
  return {
    url: `${scheme}://${host}:${port}`,
    async stop() {
      await app.close();
      await cleanup();
    },
  };
}
