import { randomBytes } from 'node:crypto';
import { createKysely } from '../common/db.js';
import { type LimitsOptional, listen } from '../common/http.js';
import type { RunningService } from '../common/service.js';
import type { GatewayConfig } from './config.js';
import type { SubscriberDB } from './db.js';
import { buildGatewayApp } from './server.js';

/** Starts the GraphQL gateway; returns its URL and a stop function. */
export async function startGateway(config: LimitsOptional<GatewayConfig>): Promise<RunningService> {
  let secret = config.jwtSecret;
  if (!secret) {
    // Only outside production (the config refuses a missing secret there).
    secret = randomBytes(32).toString('base64url');
    console.warn(
      'COLLECTOR_JWT_SECRET is not set: using a random key, so tokens end with this process.',
    );
  }
  const db = createKysely<SubscriberDB>(config.databaseUrl, {
    applicationName: 'collector-gateway',
    rawJson: true,
    isoTimestamps: true,
    statementTimeoutMs: config.statementTimeoutMs,
  });
  let app: Awaited<ReturnType<typeof buildGatewayApp>>;
  try {
    app = await buildGatewayApp(db, config, { secret, ttlSeconds: config.jwtTtlSeconds });
  } catch (e) {
    await db.destroy();
    throw e;
  }
  return listen(app, config, () => db.destroy());
}
