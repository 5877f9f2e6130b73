import { randomBytes } from 'node:crypto';
import { createKysely } from '../common/db.js';
import { type LimitsOptional, listen } from '../common/http.js';
import type { RunningService } from '../common/service.js';
import type { GatewayConfig } from './config.js';
import type { SubscriberDB } from './db.js';
import { buildGatewayApp, MONITOR_TIMEOUT_MS } from './server.js';

/** The settings added after the first release may be left out (tests and older callers). */
type AddedLater =
  | 'metricsToken'
  | 'monitorIntervalMs'
  | 'monitorTimeoutMs'
  | 'publisherMonitorUrls';
export type GatewayOptions = Omit<LimitsOptional<GatewayConfig>, AddedLater> &
  Partial<Pick<GatewayConfig, AddedLater>>;

/** Starts the GraphQL gateway; returns its URL and a stop function. */
export async function startGateway(config: GatewayOptions): Promise<RunningService> {
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
    timestampText: true,
    statementTimeoutMs: config.statementTimeoutMs,
  });
  // The fleet monitor's own small pool: its sessions run as collector_monitor, which the gateway's
  // role may SET but does not inherit (sql/subscriber/022_monitor.sql), so no GraphQL request ever
  // runs with the monitor's privileges.
  const monitorDb = createKysely<SubscriberDB>(config.databaseUrl, {
    max: 2,
    applicationName: 'collector-gateway-monitor',
    options: '-c role=collector_monitor',
    statementTimeoutMs: Math.min(config.monitorTimeoutMs ?? MONITOR_TIMEOUT_MS, 10_000),
  });
  const destroy = async () => {
    await Promise.all([db.destroy(), monitorDb.destroy()]);
  };
  let app: Awaited<ReturnType<typeof buildGatewayApp>>;
  try {
    app = await buildGatewayApp(
      db,
      config,
      { secret, ttlSeconds: config.jwtTtlSeconds },
      { monitorDb },
    );
  } catch (e) {
    await destroy();
    throw e;
  }
  return listen(app, config, destroy);
}
