import { statementTimeoutSetting } from '../common/db.js';
import {
  bytes,
  type ConfigOf,
  logLevel,
  port,
  postgresUrl,
  readConfig,
  str,
} from '../common/env.js';
import { serverLimitsSchema } from '../common/http.js';

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
};

export type PublisherConfig = ConfigOf<typeof publisherSchema>;

export function publisherConfigFromEnv(env = process.env): PublisherConfig {
  return readConfig(publisherSchema, env);
}
