import { randomBytes } from 'node:crypto';
import { createKysely } from '../common/db.js';
import type { RunningService } from '../common/service.js';
import type { GatewayConfig } from './config.js';
import type { SubscriberDB } from './db.js';
import { buildGatewayApp } from './server.js';

/** Starts the GraphQL gateway; returns its URL and a stop function. */
export async function startGateway(config: GatewayConfig): Promise<RunningService> {
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
  });
  try {
    const app = await buildGatewayApp(db, config, { secret, ttlSeconds: config.jwtTtlSeconds });
    await app.listen({ host: config.host, port: config.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
    return {
      url: `http://${host}:${port}`,
      async stop() {
        await app.close();
        await db.destroy();
      },
    };
  } catch (e) {
    await db.destroy();
    throw e;
  }
}
