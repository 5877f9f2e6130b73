import { statementTimeoutSetting } from '../common/db.js';
import {
  bytes,
  type ConfigOf,
  duration,
  int,
  invalid,
  isProduction,
  logLevel,
  port,
  postgresUrl,
  readConfig,
  type Setting,
  str,
} from '../common/env.js';
import { type LimitsOptional, serverLimitsSchema } from '../common/http.js';
import { metricsTokenSetting } from '../common/metrics.js';
import { AUTH_MODES, type AuthMode } from './auth.js';
import { DEFAULT_MAX_BATCH_ITEMS } from './batch.js';

/** How long an Idempotency-Key is remembered by default: a day covers any client's retries. */
export const DEFAULT_IDEMPOTENCY_TTL_SECONDS = 24 * 3600;
/** How often expired keys are deleted by default. */
export const DEFAULT_IDEMPOTENCY_SWEEP_SECONDS = 600;

/** How long a verified (or refused) API key is remembered: also the longest revocation delay. */
export const DEFAULT_KEY_CACHE_TTL_MS = 5000;

/** `required` unless told otherwise in production; `optional` elsewhere (npm start, tests). */
export function defaultAuthMode(env: Record<string, string | undefined> = process.env): AuthMode {
  return isProduction(env) ? 'required' : 'optional';
}

const auth: Setting<AuthMode> = {
  name: 'COLLECTOR_PUBLISHER_AUTH',
  description:
    'required: POST and GET /data need an API key (Authorization: Bearer); optional: requests ' +
    'without one are allowed, a key sent is still checked (default: required when ' +
    'NODE_ENV=production, else optional)',
  parse(raw, env) {
    if (raw === undefined) return defaultAuthMode(env);
    if (!(AUTH_MODES as readonly string[]).includes(raw)) {
      throw invalid(`must be one of ${AUTH_MODES.join(', ')}, got "${raw}"`);
    }
    return raw as AuthMode;
  },
};

const production: Setting<boolean> = {
  name: 'NODE_ENV',
  description:
    '"production" makes API keys required by default and closes GET /metrics until COLLECTOR_METRICS_TOKEN is set',
  parse: (raw) => raw === 'production',
};

export const publisherSchema = {
  databaseUrl: postgresUrl(
    'COLLECTOR_PUBLISHER_DATABASE_URL',
    'publisher database URL, as the collector_publisher_api role',
  ),
  host: str('COLLECTOR_PUBLISHER_HOST', 'address the REST API listens on', {
    default: '127.0.0.1',
  }),
  port: port('COLLECTOR_PUBLISHER_PORT', 'port the REST API listens on', 8001),
  bodyLimit: bytes('COLLECTOR_BODY_LIMIT', 'largest accepted request body', 1024 * 1024),
  logLevel: logLevel(),
  statementTimeoutMs: statementTimeoutSetting,
  ...serverLimitsSchema,
  idempotencyTtlSeconds: int(
    'COLLECTOR_IDEMPOTENCY_TTL_SECONDS',
    'seconds an Idempotency-Key of POST /data is remembered (default 86400, a day)',
    { default: DEFAULT_IDEMPOTENCY_TTL_SECONDS, min: 1 },
  ),
  idempotencySweepSeconds: int(
    'COLLECTOR_IDEMPOTENCY_SWEEP_SECONDS',
    'seconds between deletions of expired Idempotency-Keys (default 600)',
    { default: DEFAULT_IDEMPOTENCY_SWEEP_SECONDS, min: 1 },
  ),
  auth,
  keyCacheTtlMs: duration(
    'COLLECTOR_PUBLISHER_KEY_CACHE_TTL',
    'how long a checked API key is remembered, so also how long a revoked key keeps working (0s: look up every request)',
    DEFAULT_KEY_CACHE_TTL_MS,
    { max: 300_000 },
  ),
  production,
  metricsToken: metricsTokenSetting,
  maxBatchItems: int(
    'COLLECTOR_MAX_BATCH_ITEMS',
    `most items in one POST /data/batch (default ${DEFAULT_MAX_BATCH_ITEMS}; more is a 413)`,
    { default: DEFAULT_MAX_BATCH_ITEMS, min: 1, max: 10_000 },
  ),
};

export type PublisherConfig = ConfigOf<typeof publisherSchema>;

/**
 * What starting an API takes: the settings added after the first release may be left out (the
 * launcher and older callers build this object by hand), and then default as from the environment.
 */
type AddedLater =
  | 'idempotencyTtlSeconds'
  | 'idempotencySweepSeconds'
  | 'auth'
  | 'keyCacheTtlMs'
  | 'maxBatchItems'
  | 'production'
  | 'metricsToken';
export type PublisherOptions = Omit<LimitsOptional<PublisherConfig>, AddedLater> &
  Partial<Pick<PublisherConfig, AddedLater>>;

export function withDefaults(opts: PublisherOptions): LimitsOptional<PublisherConfig> {
  return {
    ...opts,
    idempotencyTtlSeconds: opts.idempotencyTtlSeconds ?? DEFAULT_IDEMPOTENCY_TTL_SECONDS,
    idempotencySweepSeconds: opts.idempotencySweepSeconds ?? DEFAULT_IDEMPOTENCY_SWEEP_SECONDS,
    auth: opts.auth ?? defaultAuthMode(),
    keyCacheTtlMs: opts.keyCacheTtlMs ?? DEFAULT_KEY_CACHE_TTL_MS,
    maxBatchItems: opts.maxBatchItems ?? DEFAULT_MAX_BATCH_ITEMS,
    production: opts.production ?? isProduction(),
    metricsToken: opts.metricsToken,
  };
}

export function publisherConfigFromEnv(env = process.env): PublisherConfig {
  return readConfig(publisherSchema, env);
}
