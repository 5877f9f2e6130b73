/**
 * Apollo Server on Fastify, plus the REST login route (so the original Django curl still works),
 * /health and /ready, and /metrics (with the fleet monitor's per-publisher figures).
 */
import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { fastifyApolloDrainPlugin } from '@as-integrations/fastify';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { readJsonBody } from '../common/body.js';
import { createHttpServer, registerHealth, type ServerLimits } from '../common/http.js';
import { checkJsonDepth, MAX_JSON_DEPTH } from '../common/json.js';
import { createRegistry, registerHttpMetrics, registerMetricsRoute } from '../common/metrics.js';
import { parseJson, stringifyJson } from '../common/raw-json.js';
import { signToken, type TokenConfig } from './auth.js';
import type { GatewayConfig } from './config.js';
import { type Context, createContext } from './context.js';
import { costLimit } from './cost.js';
import type { SubscriberDb } from './db.js';
import { apolloHandler } from './handler.js';
import { registerOfflineIde } from './ide.js';
import { jitGateway } from './jit.js';
import { queryLimits } from './limits.js';
import { fleetMetrics, graphqlMetricsPlugin } from './metrics.js';
import { buildGatewaySchema } from './schema.js';
import { FleetMonitor } from './services/fleet-monitor.js';
import { LoginThrottle } from './services/login-throttle.js';
import { login } from './services/users.js';

/** The operations both IDEs open with; only how to set the header differs between them. */
const ideDocument = (headerStep: string) => `# 1. Run Login, copy the token.
# 2. ${headerStep}
# 3. Run Data.
mutation Login {
  login(username: "admin", password: "")
}

query Data {
  data(first: 10) {
    nodes { id publisher data createdAt receivedAt annotations { body author createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}
`;

const SANDBOX_DOCUMENT = `# Offline? GET /graphiql on this gateway serves GraphiQL, which needs no CDN.
${ideDocument('Open the Headers tab, add  Authorization: Bearer <token>')}`;

const GRAPHIQL_DOCUMENT = ideDocument(
  'Open Headers (below), enter  { "Authorization": "Bearer <token>" }',
);

/** Each variable nests at most MAX_JSON_DEPTH levels, and the request around them a few more. */
function checkRequestDepth(body: unknown): void {
  const variables = (body as { variables?: unknown } | null)?.variables;
  if (variables !== null && typeof variables === 'object' && !Array.isArray(variables)) {
    for (const [name, v] of Object.entries(variables)) checkJsonDepth(v, `Variable "$${name}"`);
  }
  checkJsonDepth(body, 'The request body', MAX_JSON_DEPTH + 8);
}

/** Defaults of COLLECTOR_MONITOR_INTERVAL and COLLECTOR_MONITOR_TIMEOUT. */
export const MONITOR_INTERVAL_MS = 10_000;
export const MONITOR_TIMEOUT_MS = 8_000;

export async function buildGatewayApp(
  db: SubscriberDb,
  config: Pick<GatewayConfig, 'bodyLimit' | 'logLevel' | 'production'> &
    Partial<
      Pick<
        GatewayConfig,
        'metricsToken' | 'monitorIntervalMs' | 'monitorTimeoutMs' | 'publisherMonitorUrls'
      >
    > &
    Partial<ServerLimits>,
  tokens: TokenConfig,
  /** The fleet monitor's pool (sessions as collector_monitor); without it, no `publishers`. */
  extra: { monitorDb?: SubscriberDb } = {},
): Promise<FastifyInstance> {
  const app = createHttpServer({ ...config, graphqlPath: '/graphql' });
  const throttle = new LoginThrottle();
  const registry = createRegistry();
  registerHttpMetrics(app, registry);
  const monitor = extra.monitorDb
    ? new FleetMonitor(extra.monitorDb, {
        intervalMs: config.monitorIntervalMs ?? MONITOR_INTERVAL_MS,
        timeoutMs: config.monitorTimeoutMs ?? MONITOR_TIMEOUT_MS,
        log: app.log,
        publisherUrls: new Map((config.publisherMonitorUrls ?? []).map((p) => [p.name, p.url])),
      })
    : undefined;
  if (monitor) {
    fleetMetrics(registry, monitor);
    app.addHook('onReady', async () => monitor.start());
    app.addHook('onClose', async () => monitor.stop());
  }

  // Numbers in variables that JavaScript cannot hold exactly (12345678901234567890, 1e400) stay
  // exact: they are stored in annotations as sent.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    try {
      const { value } = readJsonBody(body as Buffer, req.headers['content-type'], {
        parse: parseJson,
      });
      // graphql-js coerces variables recursively: a filter nested thousands of levels deep would
      // overflow the stack there. Each variable may nest as deep as stored JSON may.
      checkRequestDepth(value);
      done(null, value);
    } catch (e) {
      done(e as Error, undefined);
    }
  });

  // The original Django login took form fields: `curl -d "username=…" -d "password=…"`.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );

  const apollo = new ApolloServer<Context>({
    // Operations run compiled (subscriber-graphql/jit.ts), not through graphql-js's execute.
    gateway: jitGateway(await buildGatewaySchema()),
    introspection: !config.production,
    // Validation errors suggest fields by name ("Did you mean …?"), which lets anyone map the
    // schema without introspection. Production says only what is wrong.
    hideSchemaDetailsFromClientErrors: config.production,
    validationRules: [queryLimits],
    // We stop in order ourselves (servers, then PostgreSQL); Apollo's own handler would re-raise
    // the signal after stopping and cut that short.
    stopOnTerminationSignals: false,
    // GET queries (urql's default) are allowed when they carry a header a browser cannot send
    // cross-site without a CORS preflight: Authorization counts, so an authenticated GET works,
    // while a bare cross-site GET (a CSRF attempt) is still refused.
    csrfPrevention: {
      requestHeaders: ['authorization', 'x-apollo-operation-name', 'apollo-require-preflight'],
    },
    // Stack traces go to the server log (formatError), not to clients.
    includeStacktraceInErrorResponses: false,
    // Compact, and with stored JSON spliced in as its text (exact numbers, no re-serialising).
    stringifyResult: stringifyJson,
    plugins: [
      fastifyApolloDrainPlugin(app),
      graphqlMetricsPlugin(registry),
      costLimit(),
      // Installed by default, it wraps every field resolver; we set no cache hints.
      ApolloServerPluginCacheControlDisabled(),
      config.production
        ? ApolloServerPluginLandingPageDisabled()
        : ApolloServerPluginLandingPageLocalDefault({
            embed: { initialState: { pollForSchemaUpdates: false } },
            document: SANDBOX_DOCUMENT,
          }),
    ],
    formatError(formatted, error) {
      // graphql-js parses and validates recursively; a query nested thousands of levels deep
      // overflows the stack there (a 400 already): say what to change.
      if (/Maximum call stack size exceeded/.test(formatted.message)) {
        return {
          ...formatted,
          message: 'The query nests too deeply to be read: flatten its arguments or selections.',
        };
      }
      if (formatted.extensions?.code === 'INTERNAL_SERVER_ERROR') {
        app.log.error({ err: error }, 'GraphQL resolver failed');
        if (config.production) return { ...formatted, message: 'Internal server error' };
      }
      return formatted;
    },
  });
  await apollo.start();

  app.route({
    url: '/graphql',
    method: ['GET', 'POST', 'OPTIONS'],
    handler: apolloHandler(apollo, (request) =>
      createContext(db, tokens, request.headers.authorization, {
        address: request.ip,
        throttle,
        monitor,
      }),
    ),
  });

  app.get('/', async (_request, reply) => reply.redirect('/graphql'));

  registerOfflineIde(app, {
    production: config.production,
    endpoint: '/graphql',
    document: GRAPHIQL_DOCUMENT,
  });

  // The original Django project served reads at /data/ and /annotation/: point its users here.
  for (const [path, query] of [
    [
      '/data',
      '{ data(first: 50) { nodes { id publisher data createdAt annotations { body author } } } }',
    ],
    [
      '/annotation',
      '{ data(first: 50) { nodes { id annotations { id body author createdAt } } } }',
    ],
  ] as const) {
    app.get(path, async (_request, reply) =>
      reply.status(404).send({
        error: {
          code: 'NOT_FOUND',
          message: `The subscriber serves its data through GraphQL: POST /graphql with "Authorization: Bearer <token>" (get one from POST /login).`,
          graphql: { endpoint: '/graphql', query },
        },
      }),
    );
  }

  app.post('/login', async (request) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const user = await login(db, throttle, {
      username: body.username,
      password: body.password,
      address: request.ip,
    });
    return {
      token: signToken(user, tokens),
      tokenType: 'Bearer',
      expiresIn: tokens.ttlSeconds,
    };
  });

  registerHealth(app, db as Kysely<unknown>, 'subscriber database');
  registerMetricsRoute(app, registry, {
    token: config.metricsToken,
    production: config.production,
    // A scrape reads the last status, refreshed first only if older than the interval: it never
    // waits longer than COLLECTOR_MONITOR_TIMEOUT, even on an unreachable publisher.
    beforeScrape: monitor
      ? async () => {
          await monitor.current();
        }
      : undefined,
  });

  return app;
}
