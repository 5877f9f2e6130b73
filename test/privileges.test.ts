/**
 * The whole privilege matrix of every role the collector creates, read back from the real
 * clusters: every table × every table privilege, column grants, the collector database and the
 * cluster's other databases, schema `public`, role attributes and role memberships. Each role has
 * exactly what it needs; any extra GRANT (or a missing one) turns this red. Then what the
 * privileges allow, tried for real: connections to other databases, the replication protocol,
 * and each cluster's own superuser password.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { type LocalSecrets, readSecrets } from '../collector/local.js';
import { collector, withClient } from './helpers.js';

const TABLE_PRIVILEGES = [
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'TRUNCATE',
  'REFERENCES',
  'TRIGGER',
  // PostgreSQL 17+: VACUUM, ANALYZE, CLUSTER, REINDEX, LOCK TABLE.
  'MAINTAIN',
] as const;
const COLUMN_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'REFERENCES'] as const;
const DATABASE_PRIVILEGES = ['CONNECT', 'CREATE', 'TEMPORARY'] as const;
const SCHEMA_PRIVILEGES = ['USAGE', 'CREATE'] as const;

type TablePrivilege = (typeof TABLE_PRIVILEGES)[number];
type ColumnPrivilege = (typeof COLUMN_PRIVILEGES)[number];
type DatabasePrivilege = (typeof DATABASE_PRIVILEGES)[number];
type SchemaPrivilege = (typeof SCHEMA_PRIVILEGES)[number];

interface Attributes {
  rolsuper: boolean;
  rolcreaterole: boolean;
  rolcreatedb: boolean;
  rolreplication: boolean;
  rolbypassrls: boolean;
  rolcanlogin: boolean;
}

interface RoleMatrix {
  attributes: Attributes;
  /** Roles it is a member of (pg_read_all_data, pg_signal_backend, …). */
  memberOf: string[];
  database: DatabasePrivilege[];
  /** Privileges on the cluster's other databases: none, for every role. */
  otherDatabases: { postgres: DatabasePrivilege[]; template1: DatabasePrivilege[] };
  schemaPublic: SchemaPrivilege[];
  /** Table-level privileges; a table not listed has none. */
  tables: Record<string, TablePrivilege[]>;
  /** Column privileges beyond the table-level ones, as "table.column"; none unless listed. */
  columns: Record<string, ColumnPrivilege[]>;
}

interface ClusterMatrix {
  /** Every table, view and sequence in schema public: a new one must be added to this matrix. */
  relations: string[];
  /** Every role named collector*. */
  roles: Record<string, RoleMatrix>;
}

/** A login role with no attribute at all (setup adds LOGIN and a password). */
const PLAIN: Attributes = {
  rolsuper: false,
  rolcreaterole: false,
  rolcreatedb: false,
  rolreplication: false,
  rolbypassrls: false,
  rolcanlogin: true,
};

const NO_OTHER_DATABASE = { postgres: [], template1: [] };

// The expected matrices: exactly what each role needs, nothing more.
const PUBLISHER: ClusterMatrix = {
  relations: [
    'api_key',
    'collector_migration',
    'collector_migration_lock',
    'data',
    'idempotency_key',
  ],
  roles: {
    // The REST API: insert the data column (the rest are database defaults), read rows back;
    // remember Idempotency-Keys (never updated: an expired one is deleted and taken anew).
    collector_publisher_api: {
      attributes: PLAIN,
      memberOf: [],
      database: ['CONNECT'],
      otherDatabases: NO_OTHER_DATABASE,
      schemaPublic: ['USAGE'],
      tables: { data: ['SELECT'], idempotency_key: ['DELETE'] },
      // API keys: only read to check one (hash, scopes, revocation); the CLI writes them.
      columns: {
        'api_key.key_hash': ['SELECT'],
        'api_key.revoked_at': ['SELECT'],
        'api_key.scopes': ['SELECT'],
        'data.data': ['INSERT'],
        'idempotency_key.created_at': ['SELECT'],
        'idempotency_key.data_id': ['SELECT', 'INSERT'],
        'idempotency_key.key': ['SELECT', 'INSERT'],
        'idempotency_key.request_hash': ['SELECT', 'INSERT'],
      },
    },
    // The subscriber's walsender connection: REPLICATION plus SELECT on the published table.
    collector_replicator: {
      attributes: { ...PLAIN, rolreplication: true },
      memberOf: [],
      database: ['CONNECT'],
      otherDatabases: NO_OTHER_DATABASE,
      schemaPublic: ['USAGE'],
      tables: { data: ['SELECT'] },
      columns: {},
    },
    // The gateway's fleet monitor on a publisher (sql/publisher/013_lag_monitor.sql): it connects
    // and calls collector_slot_lag() (tried below), and has no table.
    collector_lag: {
      attributes: PLAIN,
      memberOf: [],
      database: ['CONNECT'],
      otherDatabases: NO_OTHER_DATABASE,
      schemaPublic: ['USAGE'],
      tables: {},
      columns: {},
    },
  },
};

const SUBSCRIBER: ClusterMatrix = {
  relations: ['annotation', 'app_user', 'collector_migration', 'collector_migration_lock', 'data'],
  roles: {
    // The gateway: read data and users, add annotations, change an annotation's body (and its
    // timestamp) or delete it. Never change data, users, or who wrote what about which datum.
    collector_gateway: {
      attributes: PLAIN,
      // SET only, never inherited (see below): for the fleet monitor's own pool.
      memberOf: ['collector_monitor'],
      database: ['CONNECT'],
      otherDatabases: NO_OTHER_DATABASE,
      schemaPublic: ['USAGE'],
      tables: {
        annotation: ['SELECT', 'DELETE'],
        app_user: ['SELECT'],
        data: ['SELECT'],
      },
      // A new annotation is given its datum, its body and its author's id (`author` is written by
      // a trigger from author_id); id, created_at and updated_at are always the database's
      // defaults. logout raises a user's session version, and changes nothing else about users.
      columns: {
        'annotation.author_id': ['INSERT'],
        'annotation.body': ['INSERT', 'UPDATE'],
        'annotation.data_id': ['INSERT'],
        'annotation.updated_at': ['UPDATE'],
        'app_user.session_version': ['UPDATE'],
      },
    },
    // The fleet monitor (sql/subscriber/022_monitor.sql): no login, no table; who sent how many
    // rows, and when they arrived (027, counting them). Its functions and the catalogs it reads
    // are checked below.
    collector_monitor: {
      attributes: { ...PLAIN, rolcanlogin: false },
      memberOf: [],
      database: [],
      otherDatabases: NO_OTHER_DATABASE,
      schemaPublic: ['USAGE'],
      tables: {},
      columns: {
        'data.id': ['SELECT'],
        'data.publisher': ['SELECT'],
        'data.received_at': ['SELECT'],
      },
    },
  },
};

async function relations(c: pg.Client): Promise<string[]> {
  const { rows } = await c.query<{ relname: string }>(
    `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      ORDER BY 1`,
  );
  return rows.map((r) => r.relname);
}

async function roleMatrix(c: pg.Client, role: string): Promise<RoleMatrix> {
  const attributes = await c.query<Attributes>(
    `SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin
       FROM pg_roles WHERE rolname = $1`,
    [role],
  );
  const memberOf = await c.query<{ rolname: string }>(
    `SELECT g.rolname FROM pg_auth_members m
       JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member
      WHERE r.rolname = $1 ORDER BY 1`,
    [role],
  );
  const database = await c.query<{ priv: DatabasePrivilege }>(
    `SELECT p.priv FROM unnest($2::text[]) WITH ORDINALITY AS p(priv, n)
      WHERE has_database_privilege($1, current_database(), p.priv) ORDER BY p.n`,
    [role, DATABASE_PRIVILEGES],
  );
  const onOther = async (datname: string) =>
    (
      await c.query<{ priv: DatabasePrivilege }>(
        `SELECT p.priv FROM unnest($3::text[]) WITH ORDINALITY AS p(priv, n)
          WHERE has_database_privilege($1, $2, p.priv) ORDER BY p.n`,
        [role, datname, DATABASE_PRIVILEGES],
      )
    ).rows.map((r) => r.priv);
  const otherDatabases = {
    postgres: await onOther('postgres'),
    template1: await onOther('template1'),
  };
  const schema = await c.query<{ priv: SchemaPrivilege }>(
    `SELECT p.priv FROM unnest($2::text[]) WITH ORDINALITY AS p(priv, n)
      WHERE has_schema_privilege($1, 'public', p.priv) ORDER BY p.n`,
    [role, SCHEMA_PRIVILEGES],
  );
  const tables = await c.query<{ relname: string; privs: TablePrivilege[] }>(
    `SELECT c.relname, array_agg(p.priv ORDER BY p.n) AS privs
       FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
      CROSS JOIN unnest($2::text[]) WITH ORDINALITY AS p(priv, n)
      WHERE ns.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
        AND has_table_privilege($1, c.oid, p.priv)
      GROUP BY c.relname ORDER BY 1`,
    [role, TABLE_PRIVILEGES],
  );
  // Column privileges the table-level ones do not already give.
  const columns = await c.query<{ col: string; privs: ColumnPrivilege[] }>(
    `SELECT c.relname || '.' || a.attname AS col, array_agg(p.priv ORDER BY p.n) AS privs
       FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      CROSS JOIN unnest($2::text[]) WITH ORDINALITY AS p(priv, n)
      WHERE ns.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        AND has_column_privilege($1, c.oid, a.attnum, p.priv)
        AND NOT has_table_privilege($1, c.oid, p.priv)
      GROUP BY 1 ORDER BY 1`,
    [role, COLUMN_PRIVILEGES],
  );
  return {
    attributes: attributes.rows[0] as Attributes,
    memberOf: memberOf.rows.map((r) => r.rolname),
    database: database.rows.map((r) => r.priv),
    otherDatabases,
    schemaPublic: schema.rows.map((r) => r.priv),
    tables: Object.fromEntries(tables.rows.map((r) => [r.relname, r.privs])),
    columns: Object.fromEntries(columns.rows.map((r) => [r.col, r.privs])),
  };
}

async function clusterMatrix(url: string): Promise<ClusterMatrix> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ rolname: string }>(
      `SELECT rolname FROM pg_roles WHERE rolname LIKE 'collector%' ORDER BY 1`,
    );
    const roles: Record<string, RoleMatrix> = {};
    for (const { rolname } of rows) roles[rolname] = await roleMatrix(c, rolname);
    return { relations: await relations(c), roles };
  });
}

describe('privilege matrix', () => {
  it.each([0, 1])(
    'publisher %i: the API and replication roles have exactly their grants',
    async (i) => {
      const pub = collector().publishers[i] as { adminUrl: string };
      expect(await clusterMatrix(pub.adminUrl)).toEqual(PUBLISHER);
    },
  );

  it('subscriber: the gateway role has exactly its grants', async () => {
    expect(await clusterMatrix(collector().subscriberAdminUrl)).toEqual(SUBSCRIBER);
  });

  it('the publisher API may insert only the data column, column by column', async () => {
    const pub = collector().publishers[0] as { adminUrl: string };
    await withClient(pub.adminUrl, async (c) => {
      const { rows } = await c.query<{ attname: string; ins: boolean; sel: boolean; upd: boolean }>(
        `SELECT attname,
                has_column_privilege('collector_publisher_api', 'data', attname, 'INSERT') AS ins,
                has_column_privilege('collector_publisher_api', 'data', attname, 'SELECT') AS sel,
                has_column_privilege('collector_publisher_api', 'data', attname, 'UPDATE') AS upd
           FROM pg_attribute WHERE attrelid = 'data'::regclass AND attnum > 0 AND NOT attisdropped
          ORDER BY attnum`,
      );
      expect(rows).toEqual([
        { attname: 'id', ins: false, sel: true, upd: false },
        { attname: 'publisher', ins: false, sel: true, upd: false },
        { attname: 'data', ins: true, sel: true, upd: false },
        { attname: 'created_at', ins: false, sel: true, upd: false },
      ]);
    });
  });
});

/** Where a URL points, with another user, password or database. */
function urlWith(base: string, change: { user?: string; password?: string; database?: string }) {
  const url = new URL(base);
  if (change.user !== undefined) url.username = change.user;
  if (change.password !== undefined) url.password = encodeURIComponent(change.password);
  if (change.database !== undefined) url.pathname = `/${change.database}`;
  return url.toString();
}

/** Connects (optionally as a walsender), runs `fn`, and always ends the connection. */
async function asRole<T>(
  url: string,
  fn: (c: pg.Client) => Promise<T>,
  replication?: 'database' | 'true',
): Promise<T> {
  const c = new pg.Client({
    connectionString: url,
    ...(replication ? { replication } : {}),
    connectionTimeoutMillis: 10_000,
  } as pg.ClientConfig);
  c.on('error', () => {}); // a refused or broken walsender must fail the test, not the run
  try {
    await c.connect();
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}

/** The SQLSTATE (and message) of a refused connection or statement. */
async function refusal(attempt: Promise<unknown>): Promise<{ code?: string; message: string }> {
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error('neither refused nor finished within 10 s')), 10_000),
  );
  try {
    await Promise.race([attempt, timeout]);
  } catch (e) {
    const err = e as { code?: string; message: string };
    if (err.message.startsWith('neither refused')) throw err;
    return { code: err.code, message: err.message };
  }
  throw new Error('it was allowed');
}

async function secrets(): Promise<LocalSecrets> {
  return (await readSecrets(collector().dataDir)) as LocalSecrets;
}

describe('what the privileges allow, tried', () => {
  it.each(['postgres', 'template1'])(
    'no application role may connect to %s (permission denied for database)',
    async (database) => {
      const s = await secrets();
      const pub = collector().publishers[0] as { apiDatabaseUrl: string };
      const logins = [
        pub.apiDatabaseUrl,
        collector().subscriberGatewayUrl,
        urlWith(pub.apiDatabaseUrl, { user: 'collector_replicator', password: s.roles.replicator }),
      ];
      for (const login of logins) {
        const refused = await refusal(asRole(urlWith(login, { database }), async () => {}));
        const who = new URL(login).username;
        if (who === 'collector_replicator') {
          // The replicator does not even get that far: pg_hba.conf admits it to `collector` only.
          expect(refused.code, `${who}: ${refused.message}`).toBe('28000');
        } else {
          expect(refused, who).toMatchObject({ code: '42501' });
          expect(refused.message).toMatch(/permission denied for database/);
        }
      }
    },
  );

  it('the replicator runs logical replication commands in its database', async () => {
    const s = await secrets();
    const pub = collector().publishers[0] as { adminUrl: string };
    const url = urlWith(pub.adminUrl, {
      user: 'collector_replicator',
      password: s.roles.replicator,
    });
    const slot = `privileges_test_${process.pid}`;
    await asRole(
      url,
      async (c) => {
        const system = await c.query('IDENTIFY_SYSTEM');
        expect(system.rows[0]?.dbname).toBe('collector');
        const created = await c.query(`CREATE_REPLICATION_SLOT ${slot} LOGICAL pgoutput`);
        expect(created.rows[0]).toMatchObject({ slot_name: slot, output_plugin: 'pgoutput' });
        await c.query(`DROP_REPLICATION_SLOT ${slot}`);
      },
      'database',
    );
  });

  it("collector_lag reads its fleet's slots and lag through collector_slot_lag, and nothing else", async () => {
    const s = await secrets();
    const pub = collector().publishers[0] as { adminUrl: string };
    const url = urlWith(pub.adminUrl, { user: 'collector_lag', password: s.roles.lag as string });
    await asRole(url, async (c) => {
      const { rows } = await c.query<{
        active: boolean;
        wal_status: string;
        lag_bytes: string;
        lag_seconds: number | null;
      }>(`SELECT * FROM collector_slot_lag('collector_pub1')`);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ active: true, wal_status: 'reserved' });
      expect(Number(rows[0]?.lag_bytes)).toBeGreaterThanOrEqual(0);
      // The lag in seconds, which pg_stat_replication shows only to pg_read_all_stats.
      expect(rows[0]?.lag_seconds).toBeTypeOf('number');
      const direct = await c.query<{ state: string | null }>(
        `SELECT state FROM pg_stat_replication WHERE application_name = 'collector_pub1'`,
      );
      expect(direct.rows).toEqual([{ state: null }]);
      // Only the fleet's slots.
      const other = `lag_probe_${process.pid}`;
      await withClient(pub.adminUrl, (a) =>
        a.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [other]),
      );
      try {
        expect((await c.query('SELECT * FROM collector_slot_lag($1)', [other])).rows).toEqual([]);
      } finally {
        await withClient(pub.adminUrl, (a) =>
          a.query('SELECT pg_drop_replication_slot($1)', [other]),
        );
      }
      for (const statement of [
        'SELECT 1 FROM data LIMIT 1',
        `INSERT INTO data (data) VALUES ('{}')`,
        'SELECT 1 FROM api_key',
        'CREATE TABLE lag_was_here (x int)',
      ]) {
        const refused = await refusal(c.query(statement));
        expect(refused.code, statement).toBe('42501');
      }
    });
  });

  it('the API and gateway roles may not open a replication connection at all', async () => {
    const pub = collector().publishers[0] as { apiDatabaseUrl: string };
    for (const url of [pub.apiDatabaseUrl, collector().subscriberGatewayUrl]) {
      const refused = await refusal(asRole(url, (c) => c.query('IDENTIFY_SYSTEM'), 'database'));
      expect(refused.code, refused.message).toBe('42501');
      expect(refused.message).toMatch(/permission denied to start WAL sender/);
    }
  });

  it('physical replication is refused to the replicator, and to the superuser too', async () => {
    const s = await secrets();
    const pub = collector().publishers[0] as { adminUrl: string };
    const replicator = urlWith(pub.adminUrl, {
      user: 'collector_replicator',
      password: s.roles.replicator,
    });
    for (const url of [replicator, pub.adminUrl]) {
      const refused = await refusal(
        asRole(url, (c) => c.query('BASE_BACKUP (CHECKPOINT fast)'), 'true'),
      );
      expect(refused.code, refused.message).toBe('28000');
      expect(refused.message).toMatch(/no pg_hba\.conf entry for replication connection/);
    }
  });

  // Pinned because the README says so: a walsender connected to a database accepts BASE_BACKUP
  // too, and PostgreSQL has no setting or privilege that allows logical replication without it.
  // If a later PostgreSQL refuses it, this turns red: then update "Database roles" in the README.
  it('known limit: over its logical connection the replicator can still start BASE_BACKUP', async () => {
    const s = await secrets();
    const pub = collector().publishers[0] as { adminUrl: string };
    const url = urlWith(pub.adminUrl, {
      user: 'collector_replicator',
      password: s.roles.replicator,
    });
    const streaming = await asRole(
      url,
      async (c) => {
        // The tar stream starts with a CopyOutResponse: cut the connection there.
        const connection = (
          c as unknown as { connection: NodeJS.EventEmitter & { stream: { destroy(): void } } }
        ).connection;
        const started = new Promise<boolean>((resolve) => {
          connection.once('copyOutResponse', () => {
            connection.stream.destroy();
            resolve(true);
          });
        });
        const ended = c.query('BASE_BACKUP (CHECKPOINT fast)').then(
          () => false,
          () => false,
        );
        return Promise.race([started, ended]);
      },
      'database',
    );
    expect(streaming).toBe(true);
  });

  it('each cluster has its own superuser password, which opens that cluster only', async () => {
    const s = await secrets();
    const clusters = [
      { name: 'subscriber', url: collector().subscriberAdminUrl },
      ...collector().publishers.map((p) => ({ name: p.name, url: p.adminUrl })),
    ];
    const passwords = clusters.map((c) => s.superuserPasswords[c.name]);
    expect(passwords.every((p) => typeof p === 'string' && p.length >= 24)).toBe(true);
    expect(new Set(passwords).size).toBe(clusters.length);
    expect(s.superuserPassword).toBeUndefined();
    for (const target of clusters) {
      for (const [i, owner] of clusters.entries()) {
        const url = urlWith(target.url, { password: passwords[i] });
        if (owner === target) {
          await asRole(url, async (c) => {
            expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
          });
        } else {
          const refused = await refusal(asRole(url, async () => {}));
          expect(refused.code, `${owner.name}'s password on ${target.name}`).toBe('28P01');
        }
      }
    }
  });
});

describe('replication slots', () => {
  it('a publisher keeps at most 1GB of WAL for a slot whose subscriber lags or is gone', async () => {
    for (const pub of collector().publishers) {
      await withClient(pub.adminUrl, async (c) => {
        const { rows } = await c.query<{ max_slot_wal_keep_size: string }>(
          'SHOW max_slot_wal_keep_size',
        );
        expect(rows[0]?.max_slot_wal_keep_size, pub.name).toBe('1GB');
      });
    }
  });
});

describe('the fleet monitor role (collector_monitor)', () => {
  const MONITOR_FUNCTIONS = [
    'collector_monitor_log(integer)',
    'collector_monitor_reenable(name)',
    'collector_monitor_rows_settled_before()',
    'collector_monitor_subscriptions()',
  ];

  it('the gateway may SET ROLE collector_monitor but inherits nothing from it', async () => {
    await withClient(collector().subscriberAdminUrl, async (c) => {
      const { rows } = await c.query(
        `SELECT m.admin_option, m.inherit_option, m.set_option
           FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member
          WHERE g.rolname = 'collector_monitor' AND r.rolname = 'collector_gateway'`,
      );
      expect(rows).toEqual([{ admin_option: false, inherit_option: false, set_option: true }]);
    });
  });

  it('EXECUTE on exactly its four functions, which run as their owner; the gateway on neither', async () => {
    await withClient(collector().subscriberAdminUrl, async (c) => {
      const { rows } = await c.query<{
        fn: string;
        monitor: boolean;
        gateway: boolean;
        definer: boolean;
      }>(
        `SELECT p.oid::regprocedure::text AS fn, p.prosecdef AS definer,
                has_function_privilege('collector_monitor', p.oid, 'EXECUTE') AS monitor,
                has_function_privilege('collector_gateway', p.oid, 'EXECUTE') AS gateway
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = 'public' AND p.proname LIKE 'collector_monitor%' ORDER BY 1`,
      );
      expect(rows).toEqual(
        MONITOR_FUNCTIONS.map((fn) => ({ fn, monitor: true, gateway: false, definer: true })),
      );
      // No other SECURITY DEFINER function in the database that these roles could call.
      const others = await c.query<{ fn: string }>(
        `SELECT p.oid::regprocedure::text AS fn FROM pg_proc p
          WHERE p.prosecdef AND p.oid::regprocedure::text <> ALL($1::text[])
            AND (has_function_privilege('collector_monitor', p.oid, 'EXECUTE')
              OR has_function_privilege('collector_gateway', p.oid, 'EXECUTE'))`,
        [MONITOR_FUNCTIONS],
      );
      expect(others.rows).toEqual([]);
      // What a superuser has and these roles must not: reading files, the conninfo column.
      const { rows: denied } = await c.query(
        `SELECT has_function_privilege(r, 'pg_read_file(text,bigint,bigint)', 'EXECUTE') AS read_file,
                has_column_privilege(r, 'pg_subscription', 'subconninfo', 'SELECT') AS conninfo,
                pg_has_role(r, 'pg_monitor', 'USAGE') AS pg_monitor
           FROM unnest(ARRAY['collector_monitor', 'collector_gateway']) AS r`,
      );
      expect(denied).toEqual([
        { read_file: false, conninfo: false, pg_monitor: false },
        { read_file: false, conninfo: false, pg_monitor: false },
      ]);
    });
  });

  it("tried: the gateway's own sessions cannot call them; as collector_monitor only they work", async () => {
    await asRole(collector().subscriberGatewayUrl, async (c) => {
      for (const statement of [
        'SELECT collector_monitor_subscriptions()',
        'SELECT collector_monitor_log(1000)',
        "SELECT collector_monitor_reenable('collector_pub1')",
        'SELECT collector_monitor_rows_settled_before()',
        'SELECT subconninfo FROM pg_subscription',
        "SELECT pg_read_file('postgresql.log', 0, 100)",
      ]) {
        const refused = await refusal(c.query(statement));
        expect(refused.code, statement).toBe('42501');
      }
      await c.query('SET ROLE collector_monitor');
      const subs = await c.query<{ subname: string; subconninfo: string }>(
        'SELECT subname, subconninfo FROM collector_monitor_subscriptions() ORDER BY 1',
      );
      expect(subs.rows.map((r) => r.subname)).toEqual(['collector_pub1', 'collector_pub2']);
      expect(subs.rows[0]?.subconninfo).toContain("user='collector_replicator'");
      // Never the replication password: it is as good as the publisher's superuser's.
      for (const r of subs.rows) expect(r.subconninfo).not.toMatch(/password/);
      // As collector_monitor it has none of the gateway's own privileges, nor a superuser's.
      for (const statement of [
        'SELECT username FROM app_user',
        'SELECT data FROM data LIMIT 1',
        'SELECT 1 FROM annotation',
        "SELECT pg_read_file('postgresql.log', 0, 100)",
        'SELECT subconninfo FROM pg_subscription',
        'ALTER SUBSCRIPTION collector_pub1 DISABLE',
        'CREATE TABLE monitor_was_here (x int)',
      ]) {
        const refused = await refusal(c.query(statement));
        expect(refused.code, statement).toBe('42501');
      }
      const counted = await c.query('SELECT publisher, count(*) FROM data GROUP BY publisher');
      expect(counted.rows.length).toBeGreaterThanOrEqual(0);
      // The start of the oldest open transaction: at the latest, this statement's.
      const settled = await c.query<{ ok: boolean }>(
        'SELECT collector_monitor_rows_settled_before() <= statement_timestamp() AS ok',
      );
      expect(settled.rows).toEqual([{ ok: true }]);
    });
  });

  it('collector_monitor_reenable: enables a disabled subscription of the fleet, and nothing else', async () => {
    // Two disabled subscriptions that never connect (connect = false): one named like the fleet's,
    // one not. Neither has a slot, so both drop cleanly.
    const subs = ['collector_reenable_probe', 'other_reenable_probe'];
    const admin = collector().subscriberAdminUrl;
    const enabled = () =>
      withClient(admin, async (c) => {
        const { rows } = await c.query<{ subname: string; subenabled: boolean }>(
          'SELECT subname, subenabled FROM pg_subscription WHERE subname = ANY($1) ORDER BY 1',
          [subs],
        );
        return Object.fromEntries(rows.map((r) => [r.subname, r.subenabled]));
      });
    await withClient(admin, async (c) => {
      for (const name of subs) {
        await c.query(
          `CREATE SUBSCRIPTION ${name} CONNECTION 'host=127.0.0.1 port=1 dbname=none connect_timeout=1'
             PUBLICATION collector_pub WITH (connect = false, disable_on_error = true)`,
        );
      }
    });
    try {
      const reenable = (name: string) =>
        asRole(collector().subscriberGatewayUrl, async (c) => {
          await c.query('SET ROLE collector_monitor');
          const { rows } = await c.query<{ done: boolean }>(
            'SELECT collector_monitor_reenable($1) AS done',
            [name],
          );
          return rows[0]?.done;
        });
      expect(await enabled()).toEqual({
        collector_reenable_probe: false,
        other_reenable_probe: false,
      });
      expect(await reenable('other_reenable_probe')).toBe(false);
      expect(await reenable('collector_no_such_subscription')).toBe(false);
      expect(await reenable('collector_reenable_probe')).toBe(true);
      // Already enabled: nothing to do.
      expect(await reenable('collector_reenable_probe')).toBe(false);
      expect(await enabled()).toEqual({
        collector_reenable_probe: true,
        other_reenable_probe: false,
      });
    } finally {
      await withClient(admin, async (c) => {
        for (const name of subs) {
          await c.query(`ALTER SUBSCRIPTION ${name} DISABLE`);
          await c.query(`ALTER SUBSCRIPTION ${name} SET (slot_name = NONE)`);
          await c.query(`DROP SUBSCRIPTION ${name}`);
        }
      });
    }
  });

  it("the log it reads holds the replication workers' lines, never the text of client statements", async () => {
    const marker = `monitor_log_secret_${process.pid}_${Date.now()}`;
    await withClient(collector().subscriberAdminUrl, async (c) => {
      // A failing statement is logged with its text (STATEMENT) and a line naming a subscription.
      await c.query(`SELECT '${marker}'::int`).catch(() => {});
      // A client error that quotes its input, which here looks like a worker's message.
      await c.query(`SELECT 'subscription "${marker}'::int`).catch(() => {});
      await c.query(`ALTER SUBSCRIPTION "${marker}" DISABLE`).catch(() => {});
      const { rows } = await c.query<{ text: string }>(
        "SELECT pg_read_file('postgresql.log') AS text",
      );
      // The superuser's full log has it: the filter below is what keeps it out.
      expect(rows[0]?.text).toContain(`STATEMENT:  SELECT '${marker}'::int`);
    });
    await asRole(collector().subscriberGatewayUrl, async (c) => {
      await c.query('SET ROLE collector_monitor');
      const { rows } = await c.query<{ text: string }>(
        'SELECT collector_monitor_log(16 * 1024 * 1024) AS text',
      );
      const text = rows[0]?.text ?? '';
      expect(text).toMatch(
        /logical replication apply worker for subscription "collector_pub1" has started/,
      );
      expect(text).not.toContain(marker);
      expect(text).not.toMatch(/STATEMENT:/);
    });
  });
});
