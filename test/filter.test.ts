/**
 * `data(filter:)`: the compiled SQL (every value a parameter), and the rows that come back from
 * real replicated data, for each operator on each JSON type, and/or/not, and injection attempts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type DataFilter, dataFilterSql } from '../common/filter.js';
import { adminToken, collector, gql, http, replicated, sqlCompiler, uniqueTag } from './helpers.js';

const BIG = '12345678901234567890';
const BIG_NEAR = '12345678901234567891';

const compiler = sqlCompiler<{ data: { id: string } }>();

const compile = (f: DataFilter) =>
  compiler.selectFrom('data').select('id').where(dataFilterSql(f)).compile();

describe('the compiled SQL', () => {
  it('binds every value, key and path element as a parameter', () => {
    const evil = "x'); drop table data; --";
    const q = compile({
      publisher: { eq: evil },
      data: {
        contains: { [evil]: evil },
        hasKey: evil,
        matches: evil,
        path: [{ path: [evil, '0'], gt: 5, like: evil }],
      },
    });
    expect(q.sql).not.toContain('drop table');
    expect(q.sql).toBe(
      'select "id" from "data" where ("data"."publisher" = $1 and "data"."data" @> $2::jsonb and "data"."data" ? $3 and "data"."data" @@ $4::jsonpath and (case when jsonb_typeof(("data"."data" #> $5::text[])) = \'number\' then ("data"."data" #> $6::text[])::numeric > $7::numeric end) and (case when jsonb_typeof(("data"."data" #> $8::text[])) = \'string\' then ("data"."data" #>> $9::text[]) like $10 end))',
    );
    expect(q.parameters).toEqual([
      evil,
      JSON.stringify({ [evil]: evil }),
      evil,
      evil,
      [evil, '0'],
      [evil, '0'],
      '5',
      [evil, '0'],
      [evil, '0'],
      evil,
    ]);
  });

  it('adds an index-friendly containment test to a path equality on object keys', () => {
    const q = compile({ data: { path: [{ path: ['a', 'b'], eq: 1 }] } });
    expect(q.sql).toContain(
      '"data"."data" @> $1::jsonb and ("data"."data" #> $2::text[]) = $3::jsonb',
    );
    expect(q.parameters).toEqual(['{"a":{"b":1}}', ['a', 'b'], '1']);
  });

  it('refuses a comparison with a boolean and an empty condition, before any SQL', () => {
    expect(() => compile({ data: { path: [{ path: ['a'], gt: true }] } })).toThrow(
      /number or a string/,
    );
    expect(() => compile({ data: { path: [{ path: ['a'] }] } })).toThrow(/tests nothing/);
  });
});

describe('filtering real data', () => {
  const tag = uniqueTag('flt');
  const docs = {
    nine: {
      tag,
      n: 9,
      s: 'apple',
      flag: true,
      nested: { city: 'Oslo' },
      items: [{ sku: 'a1', price: 50 }],
    },
    ten: {
      tag,
      n: 10,
      s: 'Banana',
      flag: false,
      nested: { city: 'Lima' },
      items: [{ sku: 'b2', price: 150 }],
    },
    big: { tag, n: 'BIG', s: 'cherry', nothing: null, items: [] },
    text: { tag, n: 'ten', s: 'date' },
  };
  const ids: Record<string, string> = {};
  let token: string;

  beforeAll(async () => {
    token = await adminToken();
    const pub = collector().publishers[0] as { url: string };
    for (const [name, doc] of Object.entries(docs)) {
      // The big number goes as text: a JavaScript number would already have lost digits.
      const text = JSON.stringify({ data: doc }).replace('"BIG"', BIG);
      const res = await http(`${pub.url}/data`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: text,
      });
      ids[name] = (res.body as { id: string }).id;
    }
    for (const id of Object.values(ids)) await replicated(id);
  });

  async function matching(filter: Record<string, unknown>): Promise<string[]> {
    const variables = JSON.stringify({ f: { and: [{ data: { contains: { tag } } }, filter] } });
    const res = await http<{
      data?: { data: { nodes: Array<{ id: string }> } };
      errors?: unknown[];
    }>(`${collector().gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: `{"query": "query($f: DataFilter) { data(first: 100, filter: $f) { nodes { id } } }", "variables": ${variables.replaceAll('"BIG"', BIG).replaceAll('"BIG_NEAR"', BIG_NEAR)}}`,
    });
    if (res.body.errors) throw new Error(JSON.stringify(res.body.errors));
    const byId = Object.fromEntries(Object.entries(ids).map(([k, v]) => [v, k]));
    return (res.body.data?.data.nodes ?? []).map((n) => byId[n.id] as string).sort();
  }

  it.each([
    [
      'numbers compare numerically (9 < 10)',
      { data: { path: [{ path: ['n'], gt: 9 }] } },
      ['big', 'ten'],
    ],
    ['a big integer exactly', { data: { path: [{ path: ['n'], eq: 'BIG' }] } }, ['big']],
    // 12345678901234567891 is the same double as 12345678901234567890: only exact numbers tell.
    ['not a neighbour of a big integer', { data: { path: [{ path: ['n'], eq: 'BIG_NEAR' }] } }, []],
    ['above a big integer', { data: { path: [{ path: ['n'], gt: 'BIG' }] } }, []],
    ['strings compare as text', { data: { path: [{ path: ['s'], gte: 'b' }] } }, ['big', 'text']],
    ['another type never matches', { data: { path: [{ path: ['n'], lt: 'zzz' }] } }, ['text']],
    ['booleans by eq', { data: { path: [{ path: ['flag'], eq: false }] } }, ['ten']],
    ['ne keeps to the type', { data: { path: [{ path: ['flag'], ne: false }] } }, ['nine']],
    ['in', { data: { path: [{ path: ['s'], in: ['apple', 'date', 3] }] } }, ['nine', 'text']],
    [
      'like and ilike',
      {
        or: [
          { data: { path: [{ path: ['s'], like: 'ch%' }] } },
          { data: { path: [{ path: ['s'], ilike: 'BAN%' }] } },
        ],
      },
      ['big', 'ten'],
    ],
    ['nested keys', { data: { path: [{ path: ['nested', 'city'], eq: 'Lima' }] } }, ['ten']],
    ['array indexes', { data: { path: [{ path: ['items', '0', 'price'], gt: 100 }] } }, ['ten']],
    ['exists, even when null', { data: { path: [{ path: ['nothing'], exists: true }] } }, ['big']],
    [
      'isNull: JSON null or missing',
      { data: { path: [{ path: ['nothing'], isNull: true }] } },
      ['big', 'nine', 'ten', 'text'],
    ],
    ['contains', { data: { contains: { nested: { city: 'Oslo' } } } }, ['nine']],
    [
      'hasKey, hasAnyKeys, hasAllKeys',
      { data: { hasKey: 'flag', hasAllKeys: ['flag', 'nested'], hasAnyKeys: ['zzz', 'items'] } },
      ['nine', 'ten'],
    ],
    ['a jsonpath predicate', { data: { matches: '$.items[*].price > 100' } }, ['ten']],
    ['not', { not: { data: { path: [{ path: ['n'], gt: 9 }] } } }, ['nine', 'text']],
    [
      'or',
      {
        or: [
          { data: { path: [{ path: ['s'], eq: 'apple' }] } },
          { data: { path: [{ path: ['s'], eq: 'date' }] } },
        ],
      },
      ['nine', 'text'],
    ],
    ['publisher', { publisher: { in: ['pub1'] } }, ['big', 'nine', 'text', 'ten']],
  ])('%s', async (_name, filter, expected) => {
    expect(await matching(filter)).toEqual([...expected].sort());
  });

  it('a malformed jsonpath is BAD_USER_INPUT quoting PostgreSQL', async () => {
    const res = await gql(
      'query($f: DataFilter) { data(filter: $f) { nodes { id } } }',
      { f: { data: { matches: '$.items[*' } } },
      token,
    );
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(res.body.errors?.[0]?.message).toMatch(/^Invalid jsonpath: .*syntax error/);
  });

  it('injection through a path element, a key or a value finds nothing and breaks nothing', async () => {
    const evil = "x'); drop table data; --";
    expect(await matching({ data: { hasKey: evil, path: [{ path: [evil], eq: evil }] } })).toEqual(
      [],
    );
    expect(await matching({})).toHaveLength(4);
  });
});
