import { statementTimeoutSetting } from '../common/db.js';
import {
  bytes,
  type ConfigOf,
  int,
  logLevel,
  port,
  postgresUrl,
  readConfig,
  str,
} from '../common/env.js';
import { type LimitsOptional, serverLimitsSchema } from '../common/http.js';

/** How long an Idempotency-Key is remembered by default: a day covers any client's retries. */
export const DEFAULT_IDEMPOTENCY_TTL_SECONDS = 24 * 3600;
/** How often expired keys are deleted by default. */
export const DEFAULT_IDEMPOTENCY_SWEEP_SECONDS = 600;

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
};

export type PublisherConfig = ConfigOf<typeof publisherSchema>;

/**
 * What starting an API takes: the settings added after the first release may be left out (the
 * launcher and older callers build this object by hand), and then default as from the environment.
 */
export type PublisherOptions = Omit<
  LimitsOptional<PublisherConfig>,
  'idempotencyTtlSeconds' | 'idempotencySweepSeconds'
> &
  Partial<Pick<PublisherConfig, 'idempotencyTtlSeconds' | 'idempotencySweepSeconds'>>;

export function withDefaults(opts: PublisherOptions): LimitsOptional<PublisherConfig> {
  return {
    ...opts,
    idempotencyTtlSeconds: opts.idempotencyTtlSeconds ?? DEFAULT_IDEMPOTENCY_TTL_SECONDS,
    idempotencySweepSeconds: opts.idempotencySweepSeconds ?? DEFAULT_IDEMPOTENCY_SWEEP_SECONDS,
  };
}

export function publisherConfigFromEnv(env = process.env): PublisherConfig {
  return readConfig(publisherSchema, env);
}
