/**
 * Replication over verified TLS, on clusters of this test's own (the shared collector is left as
 * it is): a publisher serving a certificate, and `setup` given the CA
 * (COLLECTOR_REPLICATION_SSLROOTCERT) creates the subscription with sslmode=verify-full. A CA that
 * did not sign the publisher's certificate is refused by the subscriber's server.
 */
import { execFile } from 'node:child_process';
import { chmod, chown, copyFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, killAllNow } from '../collector/cluster.js';
import { generatePassword, setup } from '../collector/setup.js';
import { freeRange } from '../common/ports.js';
import { makeCertificates, type TestCertificates } from './certs.js';
import { waitFor, withClient } from './helpers.js';
import { scratchDir } from './sweep.js';

let dir: string;
let certs: TestCertificates;
let publisher: Cluster;
let subscriber: Cluster;
const passwords = {
  publisherApi: generatePassword(),
  replicator: generatePassword(),
  gateway: generatePassword(),
};

/** PostgreSQL runs as the `postgres` system user when we are root: it must own its files. */
async function postgresIds(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const id = async (flag: string) =>
    Number((await promisify(execFile)('id', [flag, 'postgres'])).stdout.trim());
  return { uid: await id('-u'), gid: await id('-g') };
}

/** Copies `from` into a cluster's data directory, readable by its server only. */
async function giveToServer(cluster: Cluster, from: string, name: string): Promise<string> {
  const to = path.join(cluster.options.dataDir, name);
  await copyFile(from, to);
  await chmod(to, 0o600);
  const ids = await postgresIds();
  if (ids) await chown(to, ids.uid, ids.gid);
  return to;
}

beforeAll(async () => {
  process.once('exit', killAllNow);
  dir = await scratchDir('tls');
  certs = await makeCertificates(dir);
  const base = await freeRange(2);
  const cluster = (name: string, port: number) =>
    new Cluster({
      name,
      dataDir: path.join(dir, name),
      port,
      superuserPassword: generatePassword(),
      database: 'collector',
    });
  publisher = cluster('pub1', base);
  subscriber = cluster('subscriber', base + 1);
  for (const c of [publisher, subscriber]) {
    await c.initialise();
    await c.start();
  }
  // The publisher serves a certificate for 127.0.0.1, signed by the test CA.
  await giveToServer(publisher, certs.serverCert, 'server.crt');
  await giveToServer(publisher, certs.serverKey, 'server.key');
  await withClient(publisher.adminUrl, async (c) => {
    await c.query("ALTER SYSTEM SET ssl_cert_file = 'server.crt'");
    await c.query("ALTER SYSTEM SET ssl_key_file = 'server.key'");
    await c.query("ALTER SYSTEM SET ssl = 'on'");
    await c.query('SELECT pg_reload_conf()');
  });
  // The CA files are read by the subscriber's server (its apply worker), so they live there.
  await giveToServer(subscriber, certs.ca, 'ca.crt');
  await giveToServer(subscriber, certs.otherCa, 'other-ca.crt');
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([publisher?.stop(), subscriber?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * `sslcertmode=disable` (an admin URL ssl* parameter setup passes on): as root, the embedded
 * server runs as `postgres` but inherits HOME=/root, and libpq in its walreceiver then fails on
 * /root/.postgresql/postgresql.crt ("Permission denied") looking for a client certificate. A
 * server with its own HOME (compose's postgres image) needs no such thing.
 */
const target = () => ({ name: 'pub1', adminUrl: `${publisher.adminUrl}?sslcertmode=disable` });

describe('replication over TLS (COLLECTOR_REPLICATION_SSLROOTCERT)', () => {
  it('refuses a publisher whose certificate the given CA did not sign', async () => {
    await expect(
      setup({
        subscriberAdminUrl: subscriber.adminUrl,
        publishers: [target()],
        passwords,
        replicationTls: { sslrootcert: path.join(subscriber.options.dataDir, 'other-ca.crt') },
      }),
    ).rejects.toThrow(/certificate verify failed/);
  }, 60_000);

  it('replicates with sslmode=verify-full over an encrypted connection', async () => {
    await setup({
      subscriberAdminUrl: subscriber.adminUrl,
      publishers: [target()],
      passwords,
      replicationTls: { sslrootcert: path.join(subscriber.options.dataDir, 'ca.crt') },
    });
    const conninfo = await withClient(subscriber.adminUrl, async (c) => {
      const { rows } = await c.query<{ subconninfo: string }>(
        "SELECT subconninfo FROM pg_subscription WHERE subname = 'collector_pub1'",
      );
      return rows[0]?.subconninfo ?? '';
    });
    expect(conninfo).toContain("sslmode='verify-full'");
    expect(conninfo).toContain('ca.crt');

    const id = await withClient(publisher.adminUrl, async (c) => {
      const { rows } = await c.query<{ id: string }>(
        `INSERT INTO data(data) VALUES ('{"over": "tls"}') RETURNING id`,
      );
      return rows[0]?.id as string;
    });
    await waitFor(`datum ${id} on the subscriber`, () =>
      withClient(subscriber.adminUrl, async (c) => {
        const { rowCount } = await c.query('SELECT 1 FROM data WHERE id = $1', [id]);
        return rowCount ? true : undefined;
      }),
    );
    // The walsender serving the subscription speaks TLS.
    const ssl = await withClient(publisher.adminUrl, async (c) => {
      const { rows } = await c.query<{ ssl: boolean; version: string }>(
        `SELECT s.ssl, s.version FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)
          WHERE r.application_name = 'collector_pub1'`,
      );
      return rows;
    });
    expect(ssl).toEqual([{ ssl: true, version: expect.stringMatching(/^TLSv1\.[23]$/) }]);
  }, 60_000);
});
