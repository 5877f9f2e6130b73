/**
 * The cost limit (subscriber-graphql/cost.ts): a page costs its size times what each row asks
 * for, annotations count as 5 rows, and an operation over 100,000 is refused before any SQL runs,
 * with its cost and the limit in the message.
 */
import { getIntrospectionQuery } from 'graphql';
import { describe, expect, it } from 'vitest';
import { adminToken, gql } from './helpers.js';

// annotations { id } = 1 + 5 × 1 = 6; datum { … } = 7; annotations { datum … } = 1 + 5 × 7 = 36;
// datum { … } = 37; annotations { … } = 1 + 5 × 37 = 186; nodes = 187; so data(first: n) = 1 + 187 n.
const NESTED = 'nodes { annotations { datum { annotations { datum { annotations { id } } } } } }';

describe('cost limit', () => {
  it('lets a large page of plain fields through', async () => {
    const res = await gql(
      '{ data(first: 1000) { nodes { id publisher data createdAt } } }',
      {},
      await adminToken(),
    );
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
  });

  it('scales with the page size: 534 nested rows pass, 535 do not', async () => {
    const ok = await gql(`{ data(first: 534) { ${NESTED} } }`, {}, await adminToken());
    expect(ok.body.errors).toBeUndefined();
    const refused = await gql(`{ data(first: 535) { ${NESTED} } }`, {}, await adminToken());
    expect(refused.status).toBe(400);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COSTLY');
    expect(refused.body.errors?.[0]?.message).toMatch(
      /^The query costs 100046, over the limit of 100000: ask for smaller pages/,
    );
  });

  it('refuses the same costly query every time, and costs variables per request', async () => {
    const token = await adminToken();
    // Remembered per query text (no variables): refused again, with the same cost.
    for (let i = 0; i < 2; i++) {
      const again = await gql(`{ data(first: 600) { ${NESTED} } }`, {}, token);
      expect(again.status).toBe(400);
      expect(again.body.errors?.[0]?.message).toMatch(/^The query costs 112201,/);
    }
    // With variables, the same text costs what its variables ask for.
    const query = `query($n: Int) { data(first: $n) { ${NESTED} } }`;
    expect((await gql(query, { n: 10 }, token)).body.errors).toBeUndefined();
    const big = await gql(query, { n: 600 }, token);
    expect(big.body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COSTLY');
  });

  it('reads page sizes from variables too, and last like first', async () => {
    const res = await gql(
      `query($n: Int) { data(last: $n) { ${NESTED} } }`,
      { n: 1000 },
      await adminToken(),
    );
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.message).toMatch(/costs 187001/);
  });

  it('counts a page without a size as 50 rows', async () => {
    const res = await gql(`{ data { ${NESTED} } }`, {}, await adminToken());
    expect(res.body.errors).toBeUndefined();
  });

  it('keeps the standard introspection query cheap', async () => {
    const res = await gql(getIntrospectionQuery());
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
  });
});
