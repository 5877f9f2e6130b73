/**
 * `collector setup` (compose's one-shot service) against real clusters, and its building blocks.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LocalSecrets } from '../collector/local.js';
import { replicationConninfo, scramVerifier } from '../collector/setup.js';
import { runCli } from './cli-process.js';
import { collector, http, postDatum, replicated, withClient } from './helpers.js';

describe('replication connection strings', () => {
  it("quote values and keep the admin URL's TLS settings", () => {
    const info = replicationConninfo(
      {
        name: 'pub1',
        adminUrl:
          'postgres://postgres:x@db.example:6543/collector?sslmode=verify-full&sslrootcert=/etc/ca.pem&application_name=x',
      },
      "it's\\secret",
    );
    expect(info).toBe(
      "host='db.example' port='6543' dbname='collector' user='collector_replicator' " +
        "password='it\\'s\\\\secret' sslmode='verify-full' sslrootcert='/etc/ca.pem'",
    );
  });

  it("translate node-postgres TLS spellings to libpq's", () => {
    const url = (q: string) =>
      replicationConninfo({ name: 'p', adminUrl: `postgres://u:p@h/db?${q}` }, 'pw');
    expect(url('ssl=true')).toMatch(/ sslmode='require'$/);
    expect(url('sslmode=no-verify')).toMatch(/ sslmode='require'$/);
    expect(url('ssl=false')).not.toMatch(/sslmode/);
    expect(url('sslfoo=1')).not.toMatch(/sslfoo/);
  });

  it('use verify-full with the CA given to setup (COLLECTOR_REPLICATION_SSLROOTCERT)', () => {
    const target = { name: 'p', adminUrl: 'postgres://u:p@pub1-db/db?sslmode=require' };
    const info = replicationConninfo(target, 'pw', { sslrootcert: '/certs/ca.crt' });
    expect(info).toContain("sslmode='verify-full'");
    expect(info).toContain("sslrootcert='/certs/ca.crt'");
    expect(
      replicationConninfo(target, 'pw', { sslrootcert: '/c', sslmode: 'verify-ca' }),
    ).toContain("sslmode='verify-ca'");
    expect(replicationConninfo(target, 'pw', { sslmode: 'disable' })).toMatch(
      / sslmode='disable'$/,
    );
    expect(replicationConninfo(target, 'pw')).toMatch(/ sslmode='require'$/);
  });

  it('unbracket IPv6 hosts', () => {
    expect(replicationConninfo({ name: 'p', adminUrl: 'postgres://u:p@[::1]/db' }, 'pw')).toMatch(
      /^host='::1' port='5432' dbname='db'/,
    );
  });
});

describe('SCRAM verifiers', () => {
  it('match the RFC 7677 test vector', () => {
    // RFC 7677 section 3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, i=4096.
    const v = scramVerifier('pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), 4096);
    expect(v).toBe(
      'SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=',
    );
  });
});

describe('collector setup', () => {
  it('is idempotent on a running collector and keeps replication flowing', async () => {
    const c = collector();
    const secrets = JSON.parse(
      await readFile(path.join(c.dataDir, 'secrets.json'), 'utf8'),
    ) as LocalSecrets;
    const res = await runCli(['setup'], {
      env: {
        COLLECTOR_SUBSCRIBER_ADMIN_URL: c.subscriberAdminUrl,
        COLLECTOR_PUBLISHER_ADMIN_URLS: c.publishers
          .map((p) => `${p.name}=${p.adminUrl}`)
          .join(','),
        COLLECTOR_PUBLISHER_API_DB_PASSWORD: secrets.roles.publisherApi,
        COLLECTOR_REPLICATION_PASSWORD: secrets.roles.replicator,
        COLLECTOR_GATEWAY_DB_PASSWORD: secrets.roles.gateway,
        COLLECTOR_ADMIN_PASSWORD: c.adminPassword,
      },
    });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('subscription collector_pub1 → pub1: unchanged');
    expect(res.stdout).toContain('subscription collector_pub2 → pub2: unchanged');
    expect(res.stdout).toContain('Setup complete.');

    // The role passwords it set (as SCRAM verifiers) still let every service in.
    for (const p of c.publishers) {
      const created = await postDatum(p.url, { afterSetup: true });
      expect(created.status).toBe(201);
      await replicated(created.body.id);
    }
    const login = await http(`${c.gatewayUrl}/login`, {
      method: 'POST',
      json: { username: 'admin', password: c.adminPassword },
    });
    expect(login.status).toBe(200);
    await withClient(c.publishers[0]?.adminUrl ?? '', async (client) => {
      const { rows } = await client.query(
        "SELECT rolpassword LIKE 'SCRAM-SHA-256$4096:%' AS scram FROM pg_authid WHERE rolname = 'collector_publisher_api'",
      );
      expect(rows[0]?.scram).toBe(true);
    });
  });

  it('without COLLECTOR_PUBLISHER_ADMIN_URLS sets up the subscriber only (compose runs publishers add after it)', async () => {
    const c = collector();
    const secrets = JSON.parse(
      await readFile(path.join(c.dataDir, 'secrets.json'), 'utf8'),
    ) as LocalSecrets;
    const res = await runCli(['setup'], {
      env: {
        COLLECTOR_SUBSCRIBER_ADMIN_URL: c.subscriberAdminUrl,
        COLLECTOR_PUBLISHER_ADMIN_URLS: '',
        COLLECTOR_GATEWAY_DB_PASSWORD: secrets.roles.gateway,
        COLLECTOR_ADMIN_PASSWORD: c.adminPassword,
      },
    });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('subscriber: migrations and roles ready');
    expect(res.stdout).toContain(
      'Setup of the subscriber complete. Add each publisher with: collector publishers add <name> --url postgres://…',
    );
    expect(res.stdout).not.toContain('subscription collector_');
    const replicatedAfter = await postDatum(c.publishers[0]?.url ?? '', { subscriberOnly: true });
    await replicated(replicatedAfter.body.id);
  });
});
