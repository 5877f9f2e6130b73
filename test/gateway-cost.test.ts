/**
 * What keeps the gateway's CPU per request down (README, GraphQL performance), each checked for
 * what it must still do:
 * - timestamps read as PostgreSQL's text (common/db.ts, timestampText) and written as ISO text by
 *   the DateTime scalar, only for the ones a query serves;
 * - per-row types with plain fields (type-graphql's simpleResolvers): no resolver, so no
 *   resolve info or wrapper per field of every row;
 * - the query string cut from the URL as received (subscriber-graphql/handler.ts);
 * - loaders made on first use, cursors encoded when read.
 */
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createKysely } from '../common/db.js';
import { createHttpServer } from '../common/http.js';
import { createLoaders } from '../subscriber-graphql/context.js';
import type { SubscriberDB } from '../subscriber-graphql/db.js';
import { searchOf } from '../subscriber-graphql/handler.js';
import { DateTimeScalar, isoFromPostgres } from '../subscriber-graphql/schema/datetime.scalar.js';
import { buildGatewaySchema } from '../subscriber-graphql/schema.js';
import { listDataOrdered } from '../subscriber-graphql/services/data.js';
import { adminToken, collector, gql, postDatum, replicated } from './helpers.js';

const VALUES = [
  '2026-11-26 16:18:33.098123+00',
  '2026-11-26 16:18:33.0999999+00',
  '2026-11-26 16:18:33+00',
  '2026-11-26 16:18:33.5+00',
  '2026-11-26 16:18:33.12+00',
  '1999-12-31 23:59:59.999999+00',
  '2024-02-29 12:00:00.000001-05:30',
  '0001-01-01 00:00:00+00',
  '9999-12-31 23:59:59.999+00',
  '10000-01-01 00:00:00+00',
  '0044-03-15 12:00:00+00 BC',
];

describe('timestamps as PostgreSQL text, written as ISO by the scalar', () => {
  it('serves what Date.toISOString would write, from text output and from json_build_object', async () => {
    const text = createKysely(collector().subscriberAdminUrl, {
      max: 1,
      applicationName: 'gateway-cost-test',
      timestampText: true,
    });
    const dates = createKysely(collector().subscriberAdminUrl, {
      max: 1,
      applicationName: 'gateway-cost-test',
    });
    try {
      for (const value of VALUES) {
        const q = sql<{ t: unknown; j: string }>`SELECT ${value}::timestamptz AS t,
          json_build_object('t', ${value}::timestamptz)::text AS j`;
        const [a] = (await q.execute(text)).rows;
        const [b] = (await q.execute(dates)).rows;
        const expected = (b as { t: Date }).t.toISOString();
        // Read unconverted (PostgreSQL's text, in UTC): converted only when the scalar serves it.
        expect(typeof a?.t, value).toBe('string');
        expect(a?.t, value).toMatch(/\+00( BC)?$/);
        expect(DateTimeScalar.serialize(a?.t), value).toBe(expected);
        const inJson = (JSON.parse(a?.j as string) as { t: string }).t;
        expect(DateTimeScalar.serialize(inJson), `${value} in JSON`).toBe(expected);
      }
    } finally {
      await text.destroy();
      await dates.destroy();
    }
  });

  it('converts only the UTC forms PostgreSQL writes; ISO text and Dates pass as before', () => {
    expect(isoFromPostgres('2026-11-26 16:18:33.098123+00')).toBe('2026-11-26T16:18:33.098Z');
    expect(isoFromPostgres('2026-11-26T16:18:33.5+00:00')).toBe('2026-11-26T16:18:33.500Z');
    expect(isoFromPostgres('2026-11-26 16:18:33+01')).toBeUndefined();
    expect(isoFromPostgres('2026-11-26T16:18:33.098Z')).toBeUndefined();
    expect(DateTimeScalar.serialize('2026-11-26T16:18:33.098Z')).toBe('2026-11-26T16:18:33.098Z');
    expect(DateTimeScalar.serialize(new Date(0))).toBe('1970-01-01T00:00:00.000Z');
    expect(() => DateTimeScalar.serialize('yesterday')).toThrow();
  });

  it('reaches clients as ISO text through the gateway', async () => {
    const token = await adminToken();
    const { body } = await postDatum((collector().publishers[0] as { url: string }).url, {
      cost: 'timestamps',
    });
    await replicated(body.id);
    const res = await gql<{ datum: { createdAt: string; receivedAt: string } }>(
      `query($id: UUID!) { datum(id: $id) { createdAt receivedAt } }`,
      { id: body.id },
      token,
    );
    const datum = res.body.data?.datum;
    expect(datum?.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(datum?.receivedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });
});

describe('per-row types', () => {
  it('have no resolver on their plain fields (field resolvers keep theirs)', async () => {
    const schema = await buildGatewaySchema();
    const fields = (type: string) =>
      (schema.getType(type) as { getFields(): Record<string, { resolve?: unknown }> }).getFields();
    for (const type of ['Datum', 'Annotation', 'DataConnection', 'DatumEdge', 'PageInfo']) {
      for (const [name, field] of Object.entries(fields(type))) {
        if (
          `${type}.${name}` === 'DataConnection.totalCount' ||
          `${type}.${name}` === 'Annotation.datum'
        ) {
          expect(field.resolve, `${type}.${name}`).toBeTypeOf('function');
        } else expect(field.resolve, `${type}.${name}`).toBeUndefined();
      }
    }
  });
});

describe('the query string of a GraphQL request', () => {
  it('is cut from the URL as URL.search would give it', () => {
    for (const url of [
      '/graphql',
      '/graphql?',
      '/graphql?query=%7B__typename%7D',
      '/graphql?query={__typename}&operationName=X',
      '/graphql?query=a#frag',
      '/graphql#x?y',
    ]) {
      expect(searchOf(url), url).toBe(new URL(url, 'http://localhost/').search);
    }
  });
});

describe('work done only when asked for', () => {
  it('makes each loader once, on first use', () => {
    const loaders = createLoaders(undefined as never);
    expect(loaders.datumById).toBe(loaders.datumById);
    expect(loaders.annotationsByDataId).toBe(loaders.annotationsByDataId);
    expect(loaders.pages).toEqual([]);
  });

  it('encodes a page cursor when read, and the same each time', async () => {
    const db = createKysely<SubscriberDB>(collector().subscriberGatewayUrl, {
      max: 1,
      applicationName: 'gateway-cost-test',
      rawJson: true,
      timestampText: true,
    });
    try {
      const page = await listDataOrdered(db, { first: 2 });
      for (const key of ['startCursor', 'endCursor'] as const) {
        expect(Object.getOwnPropertyDescriptor(page, key)?.get, key).toBeTypeOf('function');
      }
      const last = page.rows[page.rows.length - 1];
      expect(page.endCursor).toBe(last ? page.cursor(last) : null);
      expect(page.startCursor).toBe(page.rows[0] ? page.cursor(page.rows[0]) : null);
    } finally {
      await db.destroy();
    }
  });
});

describe('the per-request logger (common/http.ts)', () => {
  it('at silent, a request logs through the app logger; otherwise through a child with its id', async () => {
    const loggers = async (logLevel: 'silent' | 'info') => {
      const app = createHttpServer({ bodyLimit: 1024, logLevel, corsOrigins: [] });
      app.get('/which', async (request) => ({ own: request.log === app.log }));
      try {
        const res = await app.inject({ method: 'GET', url: '/which' });
        return (res.json() as { own: boolean }).own;
      } finally {
        await app.close();
      }
    };
    expect(await loggers('silent')).toBe(true);
    expect(await loggers('info')).toBe(false);
  });
});
