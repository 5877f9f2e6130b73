/** Configuration of the CLI's `start` (embedded clusters) and `setup` (real hosts) commands. */
import {
  bytes,
  type ConfigOf,
  dbPassword,
  int,
  invalid,
  LOG_LEVELS,
  namedUrls,
  oneOf,
  optionalPassword,
  port,
  postgresUrl,
  readConfig,
  type Setting,
  secret,
  str,
} from '../common/env.js';
import { MIN_PASSWORD_LENGTH } from '../subscriber-graphql/services/users.js';

const adminPassword = optionalPassword(
  'COLLECTOR_ADMIN_PASSWORD',
  'password of the gateway user "admin" (generated and printed once if unset)',
  MIN_PASSWORD_LENGTH,
);

export const localSchema = {
  publishers: int('COLLECTOR_PUBLISHERS', 'number of embedded publishers', {
    default: 2,
    min: 1,
    max: 10,
  }),
  dataDir: str('COLLECTOR_DATA_DIR', 'where the embedded clusters keep their data', {
    default: '.collector',
  }),
  adminPassword,
  // Optional even with NODE_ENV=production: npm start then uses the random key it generated
  // (32 bytes from the system's CSPRNG) and keeps in <dataDir>/secrets.json, mode 0600. That is no
  // public default; a key given here is checked like the gateway's own.
  jwtSecret: secret('COLLECTOR_JWT_SECRET', 'HS256 key that signs login tokens', 32, {
    requiredInProduction: false,
  }),
  gatewayPort: port('COLLECTOR_GATEWAY_PORT', 'port of the GraphQL gateway', 4000),
  publisherPortBase: port(
    'COLLECTOR_PUBLISHER_PORT_BASE',
    'publisher i serves its REST API on this port + i',
    8000,
  ),
  pgPortBase: port(
    'COLLECTOR_PG_PORT_BASE',
    'the embedded subscriber listens on this port, publisher i on this port + i',
    54320,
  ),
  bodyLimit: bytes('COLLECTOR_BODY_LIMIT', 'largest accepted request body', 1024 * 1024),
  logLevel: oneOf('COLLECTOR_LOG_LEVEL', 'server log level', LOG_LEVELS, 'warn'),
  maxSlotWalKeepSize: walSize(
    'COLLECTOR_MAX_SLOT_WAL_KEEP_SIZE',
    "WAL each embedded publisher keeps for a lagging or absent subscriber's slot (-1: unbounded)",
    // One disk holds every embedded cluster, and the launcher runs the subscriber beside its
    // publishers: it lags only while it crashes and restarts, or while one publisher takes in a
    // bulk load. 1GB is minutes of the heaviest ingest measured here, and a laptop can spare it.
    '1GB',
  ),
};

export type LocalConfig = ConfigOf<typeof localSchema>;

/** A PostgreSQL size setting as PostgreSQL writes it (`1GB`, `512MB`), or -1 for no bound. */
function walSize(name: string, description: string, def: string): Setting<string> {
  return {
    name,
    description,
    parse(raw) {
      if (raw === undefined) return def;
      const value = raw.trim();
      if (value === '-1') return value;
      const m = /^(\d+)(MB|GB|TB)$/.exec(value);
      if (!m || Number(m[1]) < 1) {
        throw invalid(`must be a size like 512MB, 1GB or 2TB, or -1 for no bound, got "${raw}"`);
      }
      return value;
    },
  };
}

const DB_PASSWORD_MIN = 12;

export const setupSchema = {
  subscriberAdminUrl: postgresUrl(
    'COLLECTOR_SUBSCRIBER_ADMIN_URL',
    'subscriber database URL as a superuser, for migrations and CREATE SUBSCRIPTION',
  ),
  publishers: namedUrls(
    'COLLECTOR_PUBLISHER_ADMIN_URLS',
    'comma-separated name=postgres://superuser:password@host:5432/collector, one per publisher',
  ),
  publisherApiPassword: dbPassword(
    'COLLECTOR_PUBLISHER_API_DB_PASSWORD',
    'password setup gives the collector_publisher_api role on each publisher',
    DB_PASSWORD_MIN,
  ),
  replicationPassword: dbPassword(
    'COLLECTOR_REPLICATION_PASSWORD',
    'password setup gives the collector_replicator role on each publisher',
    DB_PASSWORD_MIN,
  ),
  lagPassword: optional(
    dbPassword(
      'COLLECTOR_LAG_DB_PASSWORD',
      "password setup gives the collector_lag role on each publisher, the login of the gateway's COLLECTOR_PUBLISHER_MONITOR_URLS (unset: that role cannot log in)",
      DB_PASSWORD_MIN,
    ),
  ),
  gatewayPassword: dbPassword(
    'COLLECTOR_GATEWAY_DB_PASSWORD',
    'password setup gives the collector_gateway role on the subscriber',
    DB_PASSWORD_MIN,
  ),
  adminPassword,
  replicationSslRootCert: str(
    'COLLECTOR_REPLICATION_SSLROOTCERT',
    "CA file, as a path on the subscriber's PostgreSQL server, that signed the publishers' server " +
      'certificates: the subscriptions then connect with sslmode=verify-full (unset: the ssl* ' +
      'parameters of COLLECTOR_PUBLISHER_ADMIN_URLS, if any)',
    { optional: true },
  ) as Setting<string | undefined>,
  replicationSslMode: optionalOneOf(
    'COLLECTOR_REPLICATION_SSLMODE',
    'libpq sslmode of the subscriptions (default: verify-full with COLLECTOR_REPLICATION_SSLROOTCERT)',
    ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'],
  ),
};

export type SetupConfig = ConfigOf<typeof setupSchema>;

/**
 * `collector setup` without COLLECTOR_PUBLISHER_ADMIN_URLS: the subscriber only (compose.yaml's
 * setup service). Each publisher then joins with `collector publishers add`.
 */
export const subscriberSetupSchema = {
  subscriberAdminUrl: setupSchema.subscriberAdminUrl,
  gatewayPassword: setupSchema.gatewayPassword,
  adminPassword,
};

/** One of `values`, or undefined when unset. */
function optionalOneOf(
  name: string,
  description: string,
  values: readonly string[],
): Setting<string | undefined> {
  return {
    name,
    description,
    parse(raw) {
      if (raw !== undefined && !values.includes(raw)) {
        throw invalid(`must be one of ${values.join(', ')}, got "${raw}"`);
      }
      return raw;
    },
  };
}

/** `setting`, but unset is undefined instead of an error. */
function optional<T>(setting: Setting<T>): Setting<T | undefined> {
  return {
    name: setting.name,
    description: `${setting.description} (optional)`,
    parse: (raw, env) => (raw === undefined ? undefined : setting.parse(raw, env)),
  };
}

/**
 * What `collector publishers add <name>` reads (compose.yaml runs one per publisher). Without the
 * subscriber's URL it works on the running local collector of npm start, and takes the role
 * passwords from its secrets.json.
 */
export const publisherAddSchema = {
  subscriberAdminUrl: optional(setupSchema.subscriberAdminUrl),
  publisherUrl: postgresUrl(
    'COLLECTOR_PUBLISHER_ADMIN_URL',
    "the new publisher's database URL as a superuser (or the --url option)",
  ),
  publisherApiPassword: optional(setupSchema.publisherApiPassword),
  replicationPassword: optional(setupSchema.replicationPassword),
  lagPassword: setupSchema.lagPassword,
  replicationSslRootCert: setupSchema.replicationSslRootCert,
  replicationSslMode: setupSchema.replicationSslMode,
};

export const readLocalConfig = (env = process.env) => readConfig(localSchema, env);
export const readSetupConfig = (env = process.env) => readConfig(setupSchema, env);
export const readSubscriberSetupConfig = (env = process.env) =>
  readConfig(subscriberSetupSchema, env);
