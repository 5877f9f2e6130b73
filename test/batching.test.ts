/**
 * Nested reads are batched: a page of data with every datum's annotations (and each annotation's
 * datum) costs the same number of SQL statements whatever the page size.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawJsonTypes } from '../common/db.js';
import { listen } from '../common/http.js';
import type { RunningService } from '../common/service.js';
import type { SubscriberDB } from '../subscriber-graphql/db.js';
import { buildGatewayApp } from '../subscriber-graphql/server.js';
import {
  adminToken,
  collector,
  gql,
  http,
  postDatum,
  replicated,
  uniqueTag,
  waitFor,
  withClient,
} from './helpers.js';

const statements: string[] = [];
let gateway: RunningService;

beforeAll(async () => {
  // The real gateway app, on a Kysely instance that records every statement it runs.
  // Read jsonb as the gateway does (subscriber-graphql/start.ts): as its text.
  const pool = new pg.Pool({
    connectionString: collector().subscriberGatewayUrl,
    max: 4,
    types: rawJsonTypes,
  });
  const db = new Kysely<SubscriberDB>({
    dialect: new PostgresDialect({ pool }),
    log: (event) => {
      // Not the page's cost: the token's session check, at most one primary-key lookup of app_user
      // per user every 2 s (subscriber-graphql/services/sessions.ts).
      if (
        event.level === 'query' &&
        !/^select .* from "app_user" where "id" = \$1$/.test(event.query.sql)
      ) {
        statements.push(event.query.sql);
      }
    },
  });
  const app = await buildGatewayApp(
    db,
    { bodyLimit: 1024 * 1024, logLevel: 'silent', production: false },
    { secret: collector().jwtSecret, ttlSeconds: 60 },
  );
  gateway = await listen(app, { host: '127.0.0.1', port: 0 }, () => db.destroy());

  // Enough annotated rows for a full page.
  const token = await adminToken();
  const pub = collector().publishers[0] as { url: string };
  for (let i = 0; i < 12; i++) {
    const { body } = await postDatum(pub.url, { batching: i });
    await replicated(body.id);
    for (let j = 0; j < 2; j++) {
      await gql(
        'mutation($id: UUID!) { annotate(dataId: $id, body: 1) { id } }',
        { id: body.id },
        token,
      );
    }
  }
});
afterAll(() => gateway.stop());

async function statementsFor(first: number): Promise<string[]> {
  statements.length = 0;
  const res = await http<{
    data?: { data: { nodes: Array<{ annotations: unknown[] }> } };
    errors?: unknown;
  }>(`${gateway.url}/graphql`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await adminToken()}` },
    json: {
      query: `query($first: Int) { data(first: $first) { nodes { id
          annotations { id body datum { id publisher } } } } }`,
      variables: { first },
    },
  });
  expect(res.body.errors).toBeUndefined();
  expect(res.body.data?.data.nodes).toHaveLength(first);
  return [...statements];
}

describe('batched nested reads on a filtered page of 500', () => {
  const tag = uniqueTag('batch500');

  beforeAll(async () => {
    // 500 rows at once, on a publisher, carried over by replication.
    const pub = collector().publishers[1] as { adminUrl: string };
    await withClient(pub.adminUrl, (c) =>
      c.query(
        `INSERT INTO data (data) SELECT jsonb_build_object('bt', $1::text, 'i', i) FROM generate_series(1, 500) AS i`,
        [tag],
      ),
    );
    await waitFor('500 rows on the subscriber', () =>
      withClient(collector().subscriberAdminUrl, async (c) => {
        const { rows } = await c.query<{ n: string }>(
          "SELECT count(*) AS n FROM data WHERE data->>'bt' = $1",
          [tag],
        );
        return Number(rows[0]?.n) === 500 ? true : undefined;
      }),
    );
    // Annotations on every fifth row, so that annotations and their datum are really loaded.
    await withClient(collector().subscriberAdminUrl, (c) =>
      c.query(
        `INSERT INTO annotation (data_id, body, author)
           SELECT id, '{"n": 1}', 'admin' FROM data WHERE data->>'bt' = $1 AND (data->>'i')::int % 5 = 0`,
        [tag],
      ),
    );
  });

  it('costs one statement with annotations and their datum, two with totalCount', async () => {
    for (const withCount of [false, true]) {
      statements.length = 0;
      const res = await http<{ data?: { data: { nodes: unknown[] } }; errors?: unknown }>(
        `${gateway.url}/graphql`,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${await adminToken()}` },
          json: {
            query: `query($f: DataFilter) { data(first: 500, filter: $f, orderBy: [{ path: ["i"], direction: ASC }]) {
                ${withCount ? 'totalCount' : ''} nodes { id data annotations { id body datum { id publisher } } } } }`,
            variables: { f: { data: { contains: { bt: tag } } } },
          },
        },
      );
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data?.data.nodes).toHaveLength(500);
      expect(statements).toHaveLength(withCount ? 2 : 1);
    }
  });
});

describe('batched nested reads', () => {
  it('uses one statement for a page of 2 and for a page of 10, annotations included', async () => {
    const small = await statementsFor(2);
    const large = await statementsFor(10);
    expect(small).toHaveLength(1);
    expect(large).toHaveLength(1);
    expect(large[0]).toMatch(/from annotation a where a.data_id = data.id/);
    expect(large[0]).toMatch(/from "data"/);
  });

  it('sees annotations through fragments and edges: still one statement', async () => {
    for (const query of [
      'fragment F on Datum { id annotations { id } } { data(first: 5) { nodes { ...F } } }',
      '{ data(first: 5) { nodes { ... on Datum { annotations { id } } } } }',
      '{ data(first: 5) { edges { cursor node { annotations { body } } } } }',
    ]) {
      statements.length = 0;
      const res = await http<{ errors?: unknown }>(`${gateway.url}/graphql`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await adminToken()}` },
        json: { query },
      });
      expect(res.body.errors).toBeUndefined();
      expect(statements, query).toHaveLength(1);
    }
  });
});
