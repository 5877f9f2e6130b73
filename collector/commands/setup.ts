/** `collector setup`: idempotent wiring of real hosts from COLLECTOR_* variables (compose.yaml). */
import type { Command } from 'commander';
import { readSetupConfig, readSubscriberSetupConfig } from '../config.js';
import { ensureAdmin, setup, setupSubscriber } from '../setup.js';

const ENVIRONMENT = `
Idempotent wiring of a collector on real PostgreSQL hosts (wal_level=logical on publishers):
migrations from sql/, passwords and LOGIN for the least-privilege roles, each publisher's name,
one subscription per publisher, and the gateway user "admin".

Without COLLECTOR_PUBLISHER_ADMIN_URLS it sets up the subscriber only (compose.yaml does that):
each publisher then joins with "collector publishers add <name> --url …", the same code path.

Environment:
  COLLECTOR_SUBSCRIBER_ADMIN_URL        postgres://superuser:password@subscriber:5432/collector
  COLLECTOR_PUBLISHER_ADMIN_URLS        optional: pub1=postgres://superuser:pw@pub1:5432/collector,pub2=...
                                        (the subscriber's server must reach these hosts too)
  COLLECTOR_PUBLISHER_API_DB_PASSWORD   password for role collector_publisher_api (publishers)
  COLLECTOR_REPLICATION_PASSWORD        password for role collector_replicator (publishers)
  COLLECTOR_GATEWAY_DB_PASSWORD         password for role collector_gateway (subscriber)
  COLLECTOR_ADMIN_PASSWORD              password of user "admin" (generated and printed if unset)
  COLLECTOR_REPLICATION_SSLROOTCERT     optional: CA file on the subscriber's server; subscriptions
                                        then use sslmode=verify-full
  COLLECTOR_REPLICATION_SSLMODE         optional: another libpq sslmode for the subscriptions
`;

export function registerSetup(program: Command): void {
  program
    .command('setup')
    .description(
      'Apply sql/, set role passwords, create the subscriptions and the admin user on real hosts, from COLLECTOR_* variables (compose.yaml).',
    )
    .addHelpText('after', ENVIRONMENT)
    .action(async () => {
      if (!process.env.COLLECTOR_PUBLISHER_ADMIN_URLS) {
        const sub = readSubscriberSetupConfig();
        await setupSubscriber(sub.subscriberAdminUrl, sub.gatewayPassword, (m) => console.log(m));
        const generated = await ensureAdmin(sub.subscriberAdminUrl, sub.adminPassword);
        if (generated) console.log(`User "admin" created with password: ${generated} (shown once)`);
        console.log(
          'Setup of the subscriber complete. Add each publisher with: collector publishers add <name> --url postgres://…',
        );
        return;
      }
      const cfg = readSetupConfig();
      await setup({
        subscriberAdminUrl: cfg.subscriberAdminUrl,
        publishers: cfg.publishers.map((p) => ({ name: p.name, adminUrl: p.url })),
        passwords: {
          publisherApi: cfg.publisherApiPassword,
          replicator: cfg.replicationPassword,
          lag: cfg.lagPassword,
          gateway: cfg.gatewayPassword,
        },
        replicationTls: {
          sslmode: cfg.replicationSslMode,
          sslrootcert: cfg.replicationSslRootCert,
        },
        progress: (m) => console.log(m),
      });
      const generated = await ensureAdmin(cfg.subscriberAdminUrl, cfg.adminPassword);
      if (generated) console.log(`User "admin" created with password: ${generated} (shown once)`);
      console.log('Setup complete.');
    });
}
