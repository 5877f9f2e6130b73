/** Configuration is validated once, with one readable line per bad variable. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readLocalConfig, readSetupConfig } from '../collector/config.js';
import { ConfigError } from '../common/env.js';
import { publisherConfigFromEnv } from '../publisher-api/config.js';
import { gatewayConfigFromEnv } from '../subscriber-graphql/config.js';

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

const DB = 'postgres://u:p@db:5432/collector';

describe('publisher config', () => {
  it('has working defaults and parses sizes', () => {
    const cfg = publisherConfigFromEnv({
      COLLECTOR_PUBLISHER_DATABASE_URL: DB,
      COLLECTOR_BODY_LIMIT: '2mb',
    });
    expect(cfg).toMatchObject({ port: 8001, host: '127.0.0.1', bodyLimit: 2 * 1024 * 1024 });
    expect(
      publisherConfigFromEnv({
        COLLECTOR_PUBLISHER_DATABASE_URL: DB,
        COLLECTOR_BODY_LIMIT: '512kb',
      }).bodyLimit,
    ).toBe(524288);
  });

  it('names every bad variable at once', () => {
    const p = problems(() =>
      publisherConfigFromEnv({
        COLLECTOR_PUBLISHER_DATABASE_URL: 'mysql://x',
        COLLECTOR_PUBLISHER_PORT: 'eighty',
        COLLECTOR_BODY_LIMIT: 'lots',
        COLLECTOR_LOG_LEVEL: 'loud',
      }),
    );
    expect(p).toHaveLength(4);
    expect(p[0]).toMatch(/^COLLECTOR_PUBLISHER_DATABASE_URL: must start with postgres:\/\//);
    expect(p[1]).toMatch(/^COLLECTOR_PUBLISHER_PORT: must be an integer, got "eighty"/);
    expect(p[2]).toMatch(/^COLLECTOR_BODY_LIMIT: must be a size like/);
    expect(p[3]).toMatch(/^COLLECTOR_LOG_LEVEL: must be one of/);
  });

  it('requires a database URL', () => {
    expect(problems(() => publisherConfigFromEnv({}))).toEqual([
      expect.stringMatching(/^COLLECTOR_PUBLISHER_DATABASE_URL: is required/),
    ]);
  });
});

describe('gateway config', () => {
  it('needs no JWT secret in development', () => {
    const cfg = gatewayConfigFromEnv({ COLLECTOR_SUBSCRIBER_DATABASE_URL: DB });
    expect(cfg.jwtSecret).toBeUndefined();
    expect(cfg.production).toBe(false);
    expect(cfg.port).toBe(4000);
  });

  it("refuses .env.example's public placeholders for every secret", () => {
    expect(
      problems(() =>
        gatewayConfigFromEnv({
          COLLECTOR_SUBSCRIBER_DATABASE_URL: DB,
          COLLECTOR_JWT_SECRET: 'replace-me-with-the-output-of-openssl-rand-hex-32',
        }),
      ),
    ).toEqual([expect.stringMatching(/^COLLECTOR_JWT_SECRET: is still the placeholder/)]);
    expect(
      problems(() => readLocalConfig({ COLLECTOR_ADMIN_PASSWORD: 'replace-me-admin-password' })),
    ).toEqual([expect.stringMatching(/^COLLECTOR_ADMIN_PASSWORD: is still the placeholder/)]);
    // Superuser passwords reach the collector only inside URLs: checked there.
    expect(
      problems(() =>
        readSetupConfig({
          COLLECTOR_SUBSCRIBER_ADMIN_URL: 'postgres://postgres:replace-me-sub@db/collector',
          COLLECTOR_PUBLISHER_ADMIN_URLS: 'pub1=postgres://postgres:replace-me-pub1@pub1/collector',
          COLLECTOR_PUBLISHER_API_DB_PASSWORD: 'x'.repeat(12),
          COLLECTOR_REPLICATION_PASSWORD: 'y'.repeat(12),
          COLLECTOR_GATEWAY_DB_PASSWORD: 'z'.repeat(12),
        }),
      ),
    ).toEqual([
      expect.stringMatching(/^COLLECTOR_SUBSCRIBER_ADMIN_URL: holds a placeholder password/),
      expect.stringMatching(/^COLLECTOR_PUBLISHER_ADMIN_URLS: holds a placeholder password/),
    ]);
  });

  it('refuses to run in production without a JWT secret, or with a short one', () => {
    expect(
      problems(() =>
        gatewayConfigFromEnv({ NODE_ENV: 'production', COLLECTOR_SUBSCRIBER_DATABASE_URL: DB }),
      ),
    ).toEqual([
      expect.stringMatching(/^COLLECTOR_JWT_SECRET: is required when NODE_ENV=production/),
    ]);
    expect(
      problems(() =>
        gatewayConfigFromEnv({
          COLLECTOR_SUBSCRIBER_DATABASE_URL: DB,
          COLLECTOR_JWT_SECRET: 'short',
        }),
      ),
    ).toEqual([expect.stringMatching(/^COLLECTOR_JWT_SECRET: must be at least 32 characters/)]);
    const ok = gatewayConfigFromEnv({
      NODE_ENV: 'production',
      COLLECTOR_SUBSCRIBER_DATABASE_URL: DB,
      COLLECTOR_JWT_SECRET: randomBytes(16).toString('hex'),
    });
    expect(ok.production).toBe(true);
  });

  it('refuses a key long enough but too predictable, and says how to make one', () => {
    for (const weak of [
      'x'.repeat(32),
      'ab'.repeat(20),
      'password'.repeat(4),
      'correct-horse-'.repeat(3),
      // Few characters in any order: 1.6 bits each.
      `${'a'.repeat(24)}bcdefghi`,
      'aabbaabbabababbbaaabbbabaabbabaaabab',
    ]) {
      for (const read of [
        () =>
          gatewayConfigFromEnv({
            COLLECTOR_SUBSCRIBER_DATABASE_URL: DB,
            COLLECTOR_JWT_SECRET: weak,
          }),
        () => readLocalConfig({ COLLECTOR_JWT_SECRET: weak }),
      ]) {
        expect(problems(read), weak).toEqual([
          expect.stringMatching(
            /^COLLECTOR_JWT_SECRET: is too predictable to be a key \(.*\): generate one with openssl rand -hex 32/,
          ),
        ]);
      }
    }
    // What the README, .env.example and npm start generate all pass, at their shortest too.
    for (const good of [
      randomBytes(32).toString('hex'),
      randomBytes(16).toString('hex'),
      randomBytes(32).toString('base64'),
      randomBytes(32).toString('base64url'),
    ]) {
      expect(
        gatewayConfigFromEnv({ COLLECTOR_SUBSCRIBER_DATABASE_URL: DB, COLLECTOR_JWT_SECRET: good })
          .jwtSecret,
      ).toBe(good);
    }
  });

  it('npm start in production needs no JWT secret: it uses the one generated in its data dir', () => {
    expect(readLocalConfig({ NODE_ENV: 'production' }).jwtSecret).toBeUndefined();
  });
});

describe('local and setup config', () => {
  it('bounds the WAL an embedded publisher keeps for a slot: 1GB unless told, -1 lifts it', () => {
    expect(readLocalConfig({}).maxSlotWalKeepSize).toBe('1GB');
    for (const ok of ['512MB', '20GB', '1TB', '-1']) {
      expect(readLocalConfig({ COLLECTOR_MAX_SLOT_WAL_KEEP_SIZE: ok }).maxSlotWalKeepSize).toBe(ok);
    }
    for (const bad of ['1gb', '0GB', '1 GB', '-2', 'lots', '1048576']) {
      expect(
        problems(() => readLocalConfig({ COLLECTOR_MAX_SLOT_WAL_KEEP_SIZE: bad })),
        bad,
      ).toEqual([
        expect.stringMatching(/^COLLECTOR_MAX_SLOT_WAL_KEEP_SIZE: must be a size like 512MB/),
      ]);
    }
  });

  it('defaults to 2 publishers under .collector', () => {
    expect(readLocalConfig({})).toMatchObject({
      publishers: 2,
      dataDir: '.collector',
      gatewayPort: 4000,
      publisherPortBase: 8000,
    });
    expect(problems(() => readLocalConfig({ COLLECTOR_PUBLISHERS: '0' }))).toEqual([
      expect.stringMatching(/^COLLECTOR_PUBLISHERS: must be >= 1/),
    ]);
    expect(problems(() => readLocalConfig({ COLLECTOR_ADMIN_PASSWORD: 'short' }))).toEqual([
      expect.stringMatching(/^COLLECTOR_ADMIN_PASSWORD: must be at least 8 characters/),
    ]);
  });

  it('setup takes an optional CA and sslmode for the replication connections', () => {
    const base = {
      COLLECTOR_SUBSCRIBER_ADMIN_URL: DB,
      COLLECTOR_PUBLISHER_ADMIN_URLS: 'pub1=postgres://a:b@pub1-db:5432/collector',
      COLLECTOR_PUBLISHER_API_DB_PASSWORD: 'x'.repeat(12),
      COLLECTOR_REPLICATION_PASSWORD: 'y'.repeat(12),
      COLLECTOR_GATEWAY_DB_PASSWORD: 'z'.repeat(12),
    };
    expect(readSetupConfig(base)).toMatchObject({
      replicationSslRootCert: undefined,
      replicationSslMode: undefined,
    });
    expect(
      readSetupConfig({ ...base, COLLECTOR_REPLICATION_SSLROOTCERT: '/certs/ca.crt' }),
    ).toMatchObject({ replicationSslRootCert: '/certs/ca.crt' });
    expect(
      problems(() => readSetupConfig({ ...base, COLLECTOR_REPLICATION_SSLMODE: 'on' })),
    ).toEqual([expect.stringMatching(/^COLLECTOR_REPLICATION_SSLMODE: must be one of disable, /)]);
  });

  it('setup reads name=url publisher lists and requires every role password', () => {
    const cfg = readSetupConfig({
      COLLECTOR_SUBSCRIBER_ADMIN_URL: DB,
      COLLECTOR_PUBLISHER_ADMIN_URLS:
        'pub1=postgres://a:b@pub1-db:5432/collector, pub2=postgres://a:b@pub2-db/collector',
      COLLECTOR_PUBLISHER_API_DB_PASSWORD: 'x'.repeat(12),
      COLLECTOR_REPLICATION_PASSWORD: 'y'.repeat(12),
      COLLECTOR_GATEWAY_DB_PASSWORD: 'z'.repeat(12),
    });
    expect(cfg.publishers.map((p) => p.name)).toEqual(['pub1', 'pub2']);
    const p = problems(() =>
      readSetupConfig({
        COLLECTOR_SUBSCRIBER_ADMIN_URL: DB,
        COLLECTOR_PUBLISHER_ADMIN_URLS: 'pub1',
      }),
    );
    expect(p).toEqual([
      expect.stringMatching(
        /^COLLECTOR_PUBLISHER_ADMIN_URLS: "pub1" is not of the form name=postgres/,
      ),
      expect.stringMatching(/^COLLECTOR_PUBLISHER_API_DB_PASSWORD: is required/),
      expect.stringMatching(/^COLLECTOR_REPLICATION_PASSWORD: is required/),
      expect.stringMatching(/^COLLECTOR_GATEWAY_DB_PASSWORD: is required/),
    ]);
  });
});
