import { createKysely } from '../common/db.js';
import type { RunningService } from '../common/service.js';
import type { PublisherConfig } from './config.js';
import type { PublisherDB } from './db.js';
import { buildPublisherApp } from './server.js';

/** Starts one publisher's REST API; returns its URL and a stop function. */
export async function startPublisherApi(config: PublisherConfig): Promise<RunningService> {
  const db = createKysely<PublisherDB>(config.databaseUrl, {
    applicationName: 'collector-publisher-api',
  });
  const app = buildPublisherApp(db, config);
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (e) {
    await db.destroy();
    throw e;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  return {
    url: `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`,
    async stop() {
      await app.close();
      await db.destroy();
    },
  };
}
