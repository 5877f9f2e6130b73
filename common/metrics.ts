/**
 * `GET /metrics` in Prometheus's text format, shared by the publishers' APIs and the gateway: one
 * prom-client Registry per server (several servers may share a process in tests), the process's
 * default metrics, and HTTP request counts and latencies by route and status.
 *
 * Who may scrape: with COLLECTOR_METRICS_TOKEN set, only a request with
 * `Authorization: Bearer <token>`. Without it, anyone outside production (npm start, tests), and
 * nobody in production (403 naming the variable): the figures name publishers and operations, and
 * a loopback-only rule would let in every request that a reverse proxy on the same host forwards.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { secret } from './env.js';
import { AppError } from './errors.js';
import { sendError } from './http.js';

export const metricsTokenSetting = secret(
  'COLLECTOR_METRICS_TOKEN',
  'bearer token that GET /metrics requires; unset: /metrics is open outside production and refused in production',
  16,
  { requiredInProduction: false },
);

/** Seconds: from a fast cached insert to a slow page. */
export const LATENCY_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

interface RouteSeries {
  labels: { method: string; route: string; status: string };
  /** Answered so far: a plain number per request, handed to the Counter at scrape time. */
  count: number;
  duration: ReturnType<Histogram<'method' | 'route'>['labels']>;
}

/**
 * `collector_http_requests_total{method,route,status}` and
 * `collector_http_request_duration_seconds{method,route}`, counted when each response is sent.
 * The route is the pattern (`/data/:id`), never the path, so ids make no new series; a path
 * without a route counts as `unmatched`. Per request: one Map lookup, one `count++`, and one
 * histogram observation (prom-client hashes the labels of every observation, about 2 µs on this
 * machine under load; the count is kept as a plain number and read by the Counter on a scrape).
 */
export function registerHttpMetrics(app: FastifyInstance, registry: Registry): void {
  const series = new Map<string, RouteSeries>();
  new Counter({
    name: 'collector_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of series.values()) this.inc(s.labels, s.count);
    },
  });
  const duration = new Histogram({
    name: 'collector_http_request_duration_seconds',
    help: 'Time from receiving a request to sending its response, by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    const key = `${request.method} ${status} ${route}`;
    let s = series.get(key);
    if (s === undefined) {
      s = {
        labels: { method: request.method, route, status: String(status) },
        count: 0,
        duration: duration.labels(request.method, route),
      };
      series.set(key, s);
    }
    s.count++;
    s.duration.observe(reply.elapsedTime / 1000);
    done();
  });
}

function sameToken(given: string, expected: string): boolean {
  // Hashes of equal length, so the comparison takes the same time whatever was sent.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export interface MetricsRouteOptions {
  token?: string;
  production: boolean;
  /** Runs before the registry is read (the gateway refreshes its fleet monitor if stale). */
  beforeScrape?: () => Promise<void>;
}

/** `GET /metrics`: the registry in Prometheus's text format, behind the rule above. */
export function registerMetricsRoute(
  app: FastifyInstance,
  registry: Registry,
  opts: MetricsRouteOptions,
): void {
  app.get('/metrics', async (request, reply) => {
    if (opts.token === undefined) {
      if (opts.production) {
        return sendError(
          reply,
          new AppError(
            'FORBIDDEN',
            'GET /metrics is closed in production until COLLECTOR_METRICS_TOKEN is set; then send "Authorization: Bearer <token>".',
          ),
        );
      }
    } else {
      const m = /^Bearer[ ]+(\S+)[ ]*$/i.exec(request.headers.authorization ?? '');
      if (!m?.[1] || !sameToken(m[1], opts.token)) {
        reply.header('www-authenticate', 'Bearer realm="collector-metrics"');
        return sendError(
          reply,
          new AppError(
            'UNAUTHENTICATED',
            'GET /metrics needs "Authorization: Bearer <COLLECTOR_METRICS_TOKEN>".',
          ),
        );
      }
    }
    await opts.beforeScrape?.();
    const text = await registry.metrics();
    return reply.type(registry.contentType).send(text);
  });
}
