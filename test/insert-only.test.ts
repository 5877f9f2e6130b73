/**
 * Publishers are insert-only in the database itself, and every role has only what it needs.
 */
import { describe, expect, it } from 'vitest';
import { collector, postDatum, uniqueTag, withClient } from './helpers.js';

const pub = () =>
  collector().publishers[0] as { url: string; adminUrl: string; apiDatabaseUrl: string };

async function storedRow(): Promise<{ id: string; tag: string }> {
  const tag = uniqueTag('ro');
  const res = await postDatum(pub().url, { tag });
  expect(res.status).toBe(201);
  return { id: res.body.id, tag };
}

async function dataOf(id: string): Promise<unknown> {
  return withClient(pub().adminUrl, async (c) => {
    const { rows } = await c.query('SELECT data FROM data WHERE id = $1', [id]);
    return rows[0]?.data;
  });
}

describe('insert-only publisher table', () => {
  it('refuses UPDATE, DELETE and TRUNCATE even from the superuser', async () => {
    const { id, tag } = await storedRow();
    await withClient(pub().adminUrl, async (c) => {
      await expect(c.query(`UPDATE data SET data = '{"x":1}' WHERE id = $1`, [id])).rejects.toThrow(
        /insert-only: UPDATE is not allowed/,
      );
      await expect(c.query('DELETE FROM data WHERE id = $1', [id])).rejects.toThrow(
        /insert-only: DELETE is not allowed/,
      );
      // Statement-level: an UPDATE matching no row fails too.
      await expect(c.query(`UPDATE data SET data = '1' WHERE false`)).rejects.toThrow(
        /insert-only/,
      );
      await expect(c.query('TRUNCATE data')).rejects.toThrow(/insert-only: TRUNCATE/);
      // Replica mode skips ordinary triggers; these are ENABLE ALWAYS.
      await c.query('SET session_replication_role = replica');
      await expect(c.query('DELETE FROM data WHERE id = $1', [id])).rejects.toThrow(/insert-only/);
    });
    expect(await dataOf(id)).toEqual({ tag });
  });

  it('gives the API role INSERT on the data column and SELECT, nothing else', async () => {
    const { id, tag } = await storedRow();
    await withClient(pub().apiDatabaseUrl, async (c) => {
      await expect(c.query(`UPDATE data SET data = '{}' WHERE id = $1`, [id])).rejects.toThrow(
        /permission denied/,
      );
      await expect(c.query('DELETE FROM data WHERE id = $1', [id])).rejects.toThrow(
        /permission denied/,
      );
      await expect(c.query('TRUNCATE data')).rejects.toThrow(/permission denied/);
      // Neither the id nor the publisher's name can be chosen by the API.
      await expect(
        c.query(`INSERT INTO data (id, data) VALUES (gen_random_uuid(), '{}')`),
      ).rejects.toThrow(/permission denied/);
      await expect(
        c.query(`INSERT INTO data (publisher, data) VALUES ('evil', '{}')`),
      ).rejects.toThrow(/permission denied/);
      await expect(c.query('CREATE TABLE sneaky (x int)')).rejects.toThrow(/permission denied/);
    });
    expect(await dataOf(id)).toEqual({ tag });
  });

  it('publishes inserts only', async () => {
    await withClient(pub().adminUrl, async (c) => {
      const { rows } = await c.query(
        `SELECT pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname = 'collector_pub'`,
      );
      expect(rows).toEqual([
        { pubinsert: true, pubupdate: false, pubdelete: false, pubtruncate: false },
      ]);
    });
  });

  it('lets the replication role only read the published table', async () => {
    await withClient(pub().adminUrl, async (c) => {
      const { rows } = await c.query(
        `SELECT rolreplication, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin
           FROM pg_roles WHERE rolname = 'collector_replicator'`,
      );
      expect(rows).toEqual([
        {
          rolreplication: true,
          rolsuper: false,
          rolcreatedb: false,
          rolcreaterole: false,
          rolcanlogin: true,
        },
      ]);
      const privs = await c.query(
        `SELECT privilege_type FROM information_schema.role_table_grants
          WHERE grantee = 'collector_replicator' AND table_name = 'data' ORDER BY 1`,
      );
      expect(privs.rows.map((r) => r.privilege_type)).toEqual(['SELECT']);
    });
  });
});

describe('least-privilege gateway role on the subscriber', () => {
  it('reads data and users, adds annotations, and can do nothing else', async () => {
    await withClient(collector().subscriberGatewayUrl, async (c) => {
      await c.query('SELECT count(*) FROM data');
      await expect(
        c.query(
          `INSERT INTO data (id, publisher, data, created_at) VALUES (gen_random_uuid(), 'x', '{}', now())`,
        ),
      ).rejects.toThrow(/permission denied/);
      await expect(c.query(`UPDATE data SET publisher = 'x' WHERE false`)).rejects.toThrow(
        /permission denied/,
      );
      // It may change an annotation's body and delete annotations, but never who wrote it.
      await expect(c.query(`UPDATE annotation SET author = 'x' WHERE false`)).rejects.toThrow(
        /permission denied/,
      );
      await expect(c.query('DELETE FROM app_user WHERE false')).rejects.toThrow(
        /permission denied/,
      );
      await expect(
        c.query(`INSERT INTO app_user (username, password_hash) VALUES ('x', 'scrypt$x')`),
      ).rejects.toThrow(/permission denied/);
    });
  });

  it('stores only scrypt hashes of passwords', async () => {
    await withClient(collector().subscriberAdminUrl, async (c) => {
      const { rows } = await c.query(`SELECT password_hash FROM app_user WHERE username = 'admin'`);
      expect(rows[0]?.password_hash).toMatch(
        /^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/,
      );
      expect(rows[0]?.password_hash).not.toContain(collector().adminPassword);
    });
  });
});
