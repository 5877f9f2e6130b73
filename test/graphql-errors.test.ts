/**
 * Bad input to the gateway gets a 4xx with a code and a readable message, and writes nothing.
 */

import jwt from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import { adminToken, collector, gql, http, replicatedDatum, withClient } from './helpers.js';

const UNKNOWN = '00000000-0000-4000-8000-0000000000ff';

describe('GraphQL errors', () => {
  it('annotating an unknown datum is NOT_FOUND (404), not a foreign-key 500, and stores nothing', async () => {
    const res = await gql(
      'mutation($id: UUID!) { annotate(dataId: $id, body: {note: "x"}) { id } }',
      { id: UNKNOWN },
      await adminToken(),
    );
    expect(res.status).toBe(404);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(res.body.errors?.[0]?.message).toMatch(`No datum with id ${UNKNOWN}`);
    await withClient(collector().subscriberAdminUrl, async (c) => {
      const { rowCount } = await c.query('SELECT 1 FROM annotation WHERE data_id = $1', [UNKNOWN]);
      expect(rowCount).toBe(0);
    });
  });

  it('a bad UUID in a variable is BAD_USER_INPUT (400)', async () => {
    const res = await gql(
      'query($id: UUID!) { datum(id: $id) { id } }',
      { id: 'nope' },
      await adminToken(),
    );
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(res.body.errors?.[0]?.message).toMatch(/UUID/);
  });

  it('a bad UUID literal fails validation (400)', async () => {
    const res = await gql('{ datum(id: "nope") { id } }', {}, await adminToken());
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('an unknown datum is null', async () => {
    const res = await gql<{ datum: null }>(
      'query($id: UUID!) { datum(id: $id) { id } }',
      { id: UNKNOWN },
      await adminToken(),
    );
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ datum: null });
  });

  it('a page size out of range or a bad cursor is BAD_USER_INPUT (400)', async () => {
    const token = await adminToken();
    const big = await gql('{ data(first: 5000) { nodes { id } } }', {}, token);
    expect(big.status).toBe(400);
    expect(big.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(big.body.errors?.[0]?.message).toMatch(/"first" must be an integer from 0 to 1000/);
    const cursor = await gql('{ data(after: "garbage") { nodes { id } } }', {}, token);
    expect(cursor.status).toBe(400);
    expect(cursor.body.errors?.[0]?.message).toMatch(/Invalid cursor/);
  });

  it('a missing annotation body fails validation', async () => {
    const res = await gql(
      `mutation { annotate(dataId: "${UNKNOWN}") { id } }`,
      {},
      await adminToken(),
    );
    expect(res.status).toBe(400);
  });

  it('malformed JSON or an unknown field gets 400', async () => {
    const malformed = await http(`${collector().gatewayUrl}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${await adminToken()}`,
      },
      body: '{"query": ',
    });
    expect(malformed.status).toBe(400);
    const unknown = await gql('{ nope }', {}, await adminToken());
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('an oversized request gets 413', async () => {
    const res = await http(`${collector().gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ __typename } #${'x'.repeat(1024 * 1024)}` }),
    });
    expect(res.status).toBe(413);
  });

  it('serves health and readiness, and Apollo Sandbox to a browser in development', async () => {
    const health = await http(`${collector().gatewayUrl}/health`);
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok' });
    const ready = await http(`${collector().gatewayUrl}/ready`);
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready', database: 'reachable' });
    const page = await http(`${collector().gatewayUrl}/graphql`, {
      headers: { accept: 'text/html' },
    });
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/sandbox/i);
  });

  it('finds a datum by an upper-case UUID', async () => {
    const created = { body: { id: await replicatedDatum({ upper: true }) } };
    const res = await gql<{ datum: { id: string } | null }>(
      'query($id: UUID!) { datum(id: $id) { id } }',
      { id: created.body.id.toUpperCase() },
      await adminToken(),
    );
    expect(res.body.data?.datum?.id).toBe(created.body.id);
    const annotated = await gql<{ annotate: { dataId: string } }>(
      'mutation($id: UUID!) { annotate(dataId: $id, body: "upper") { dataId } }',
      { id: created.body.id.toUpperCase() },
      await adminToken(),
    );
    expect(annotated.body.data?.annotate.dataId).toBe(created.body.id);
  });

  it('a token of a user deleted since gets UNAUTHENTICATED on annotate, not a foreign-key error', async () => {
    const created = { body: { id: await replicatedDatum({ gone: true }) } };
    const ghost = jwt.sign({ username: 'nobody-anymore', sv: 1 }, collector().jwtSecret, {
      algorithm: 'HS256',
      issuer: 'the-collector',
      audience: 'collector-graphql',
      subject: '00000000-0000-4000-8000-00000000dead',
      expiresIn: 60,
    });
    const res = await gql(
      'mutation($id: UUID!) { annotate(dataId: $id, body: 1) { id } }',
      { id: created.body.id },
      ghost,
    );
    expect(res.status).toBe(401);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(res.body.errors?.[0]?.message).toMatch(/Token no longer valid: sign in again/);
  });

  it('an empty page keeps its position: first: 0 echoes the cursor', async () => {
    const token = await adminToken();
    const one = await gql<{ data: { pageInfo: { endCursor: string } } }>(
      '{ data(first: 1) { pageInfo { endCursor } } }',
      {},
      token,
    );
    const cursor = one.body.data?.data.pageInfo.endCursor;
    expect(cursor).toBeTruthy();
    const zero = await gql<{ data: { nodes: unknown[]; pageInfo: { endCursor: string } } }>(
      'query($after: String) { data(first: 0, after: $after) { nodes { id } pageInfo { endCursor } } }',
      { after: cursor },
      token,
    );
    expect(zero.body.data?.data.nodes).toEqual([]);
    expect(zero.body.data?.data.pageInfo.endCursor).toBe(cursor);
  });
});
