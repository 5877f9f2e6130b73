/**
 * The whole privilege matrix of every role the collector creates, read back from the real
 * clusters: every table × every table privilege, column grants, the collector database, schema
 * `public`, role attributes and role memberships. Each role has exactly what it needs; any extra
 * GRANT (or a missing one) turns this red.
 */
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
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

// The expected matrices: exactly what each role needs, nothing more.
const PUBLISHER: ClusterMatrix = {
  relations: ['collector_migration', 'collector_migration_lock', 'data', 'idempotency_key'],
  roles: {
    // The REST API: insert the data column (the rest are database defaults), read rows back;
    // remember Idempotency-Keys (never updated: an expired one is deleted and taken anew).
    collector_publisher_api: {
      attributes: PLAIN,
      memberOf: [],
      database: ['CONNECT'],
      schemaPublic: ['USAGE'],
      tables: { data: ['SELECT'], idempotency_key: ['DELETE'] },
      columns: {
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
      schemaPublic: ['USAGE'],
      tables: { data: ['SELECT'] },
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
      memberOf: [],
      database: ['CONNECT'],
      schemaPublic: ['USAGE'],
      tables: {
        annotation: ['SELECT', 'DELETE'],
        app_user: ['SELECT'],
        data: ['SELECT'],
      },
      // Insert: the datum, the body, the author's id (`author` is the trigger's); logout raises a
      // user's session version, and changes nothing else about users.
      columns: {
        'annotation.author_id': ['INSERT'],
        'annotation.body': ['INSERT', 'UPDATE'],
        'annotation.data_id': ['INSERT'],
        'annotation.updated_at': ['UPDATE'],
        'app_user.session_version': ['UPDATE'],
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
