import { createKysely } from '../common/db.js';
import { listen } from '../common/http.js';
import type { RunningService } from '../common/service.js';
import { type PublisherOptions, withDefaults } from './config.js';
import type { PublisherDB } from './db.js';
import { buildPublisherApp } from './server.js';

/** Starts one publisher's REST API; returns its URL and a stop function. */
export async function startPublisherApi(options: PublisherOptions): Promise<RunningService> {
  const config = withDefaults(options);
  const db = createKysely<PublisherDB>(config.databaseUrl, {
    applicationName: 'collector-publisher-api',
    statementTimeoutMs: config.statementTimeoutMs,
  });
  return listen(buildPublisherApp(db, config), config, () => db.destroy());
}
