import { createKysely } from '../common/db.js';
import { listen } from '../common/http.js';
import type { RunningService } from '../common/service.js';
import { type PublisherOptions, withDefaults } from './config.js';
import { InsertConnections, type PublisherDB } from './db.js';
import { GROUP_COMMIT_IN_FLIGHT } from './group-commit.js';
import { buildPublisherApp } from './server.js';

/** Starts one publisher's REST API; returns its URL and a stop function. */
export async function startPublisherApi(options: PublisherOptions): Promise<RunningService> {
  const config = withDefaults(options);
  const db = createKysely<PublisherDB>(config.databaseUrl, {
    applicationName: 'collector-publisher-api',
    statementTimeoutMs: config.statementTimeoutMs,
  });
  // POST /data's group commit runs up to GROUP_COMMIT_IN_FLIGHT statements at once, each on a
  // connection held for it.
  const insertConnections = new InsertConnections(config.databaseUrl, {
    applicationName: 'collector-publisher-api',
    statementTimeoutMs: config.statementTimeoutMs,
    size: GROUP_COMMIT_IN_FLIGHT,
  });
  return listen(buildPublisherApp(db, config, insertConnections), config, async () => {
    await insertConnections.close();
    await db.destroy();
  });
}
