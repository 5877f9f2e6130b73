import { statementTimeoutSetting } from '../common/db.js';
import {
  bytes,
  type ConfigOf,
  duration,
  int,
  logLevel,
  namedUrls,
  port,
  postgresUrl,
  readConfig,
  type Setting,
  secret,
  str,
} from '../common/env.js';
import { serverLimitsSchema } from '../common/http.js';
import { metricsTokenSetting } from '../common/metrics.js';

const production: Setting<boolean> = {
  name: 'NODE_ENV',
  description: '"production" turns off Apollo Sandbox and introspection, and requires secrets',
  parse: (raw) => raw === 'production',
};

const monitorUrls = namedUrls(
  'COLLECTOR_PUBLISHER_MONITOR_URLS',
  "logins on the publishers for their slots and lag in /metrics and the publishers query (pub1=postgres://…,pub2=…): any role that may connect to the publisher's database; unset: lag unknown",
);
/** Optional: without it, the publishers are not asked (their lag is unknown). */
const publisherMonitorUrls: Setting<Array<{ name: string; url: string }>> = {
  ...monitorUrls,
  parse: (raw, env) => (raw === undefined ? [] : monitorUrls.parse(raw, env)),
};

export const gatewaySchema = {
  databaseUrl: postgresUrl(
    'COLLECTOR_SUBSCRIBER_DATABASE_URL',
    'subscriber database URL, as the collector_gateway role',
  ),
  host: str('COLLECTOR_GATEWAY_HOST', 'address the GraphQL gateway listens on', {
    default: '127.0.0.1',
  }),
  port: port('COLLECTOR_GATEWAY_PORT', 'port the GraphQL gateway listens on', 4000),
  jwtSecret: secret('COLLECTOR_JWT_SECRET', 'HS256 key that signs login tokens', 32),
  jwtTtlSeconds: int('COLLECTOR_JWT_TTL_SECONDS', 'lifetime of a login token in seconds', {
    default: 8 * 3600,
    min: 60,
    max: 30 * 24 * 3600,
  }),
  bodyLimit: bytes('COLLECTOR_BODY_LIMIT', 'largest accepted request body', 1024 * 1024),
  logLevel: logLevel(),
  production,
  statementTimeoutMs: statementTimeoutSetting,
  metricsToken: metricsTokenSetting,
  monitorIntervalMs: duration(
    'COLLECTOR_MONITOR_INTERVAL',
    "how often the gateway reads every publisher's status for /metrics and its log, and re-enables a subscription stopped by a broken stream (0s: only when scraped or queried)",
    10_000,
    { max: 3_600_000 },
  ),
  publisherMonitorUrls: publisherMonitorUrls,
  monitorTimeoutMs: duration(
    'COLLECTOR_MONITOR_TIMEOUT',
    "longest one read of the publishers' status may take; past it, /metrics serves the last one (marked by collector_fleet_monitor_up 0)",
    8_000,
    { min: 500, max: 120_000 },
  ),
  ...serverLimitsSchema,
};

export type GatewayConfig = ConfigOf<typeof gatewaySchema>;

export function gatewayConfigFromEnv(env = process.env): GatewayConfig {
  return readConfig(gatewaySchema, env);
}
