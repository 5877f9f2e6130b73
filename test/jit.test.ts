/**
 * Operations run compiled by graphql-jit (subscriber-graphql/jit.ts), except where it would not do
 * exactly what graphql-js does: those run on graphql-js, with the same answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../common/service.js';
import { executions } from '../subscriber-graphql/jit.js';
import { adminToken, http, replicatedDatum, startTestGateway, uniqueTag } from './helpers.js';

let gateway: RunningService;
beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(() => gateway.stop());

async function run(query: string, variables: Record<string, unknown> = {}) {
  const before = { ...executions };
  const res = await http<{ data?: unknown; errors?: unknown }>(`${gateway.url}/graphql`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await adminToken()}` },
    json: { query, variables },
  });
  return {
    res,
    compiled: executions.compiled - before.compiled,
    graphqlJs: executions.graphqlJs - before.graphqlJs,
    compileAttempts: executions.compileAttempts - before.compileAttempts,
  };
}

describe('compiled execution', () => {
  it('runs a page of data with annotations compiled, again from its cache', async () => {
    const query = '{ data(first: 3) { nodes { id data createdAt annotations { id body } } } }';
    for (let i = 0; i < 2; i++) {
      const r = await run(query);
      expect(r.res.body.errors).toBeUndefined();
      expect(r).toMatchObject({ compiled: 1, graphqlJs: 0 });
    }
  });

  it('runs filter variables (a recursive input type) on graphql-js', async () => {
    const r = await run('query($f: DataFilter) { data(first: 2, filter: $f) { nodes { id } } }', {
      f: { and: [{ publisher: { eq: 'pub1' } }] },
    });
    expect(r.res.body.errors).toBeUndefined();
    // Without trying to compile it: graphql-jit spends seconds recursing over such a type
    // before it gives up, blocking every other request meanwhile.
    expect(r).toMatchObject({ compiled: 0, graphqlJs: 1, compileAttempts: 0 });
  });

  it('runs a literal number JavaScript cannot hold on graphql-js, exactly', async () => {
    const id = await replicatedDatum({ tag: uniqueTag('jit') });
    const r = await run(
      `mutation { annotate(dataId: "${id}", body: {big: 12345678901234567890}) { body } }`,
    );
    expect(r.res.text).toContain('12345678901234567890');
    expect(r).toMatchObject({ compiled: 0, graphqlJs: 1 });
    // The same with a number that is exact as a double: compiled.
    const exact = await run(`mutation { annotate(dataId: "${id}", body: {n: 12}) { body } }`);
    expect(exact.res.text).toMatch(/"n": ?12/);
    expect(exact).toMatchObject({ compiled: 1, graphqlJs: 0 });
  });

  it('says BAD_USER_INPUT (400) for a variable of the wrong type, compiled too', async () => {
    const r = await run('query($n: Int) { data(first: $n) { nodes { id } } }', { n: 'many' });
    expect(r.compiled).toBe(1);
    expect(r.res.status).toBe(400);
    expect(JSON.stringify(r.res.body)).toContain('BAD_USER_INPUT');
  });
});
