/**
 * The whole path a user takes: store JSON on both publishers over HTTP, see it replicated to the
 * subscriber, log in, read it through GraphQL over HTTP, annotate it, read the annotation back.
 */
import { describe, expect, it } from 'vitest';
import { adminToken, collector, gql, http, postDatum, uniqueTag, waitFor } from './helpers.js';

interface DatumOut {
  id: string;
  publisher: string;
  data: { tag: string; n: number };
  createdAt: string;
  receivedAt: string;
  annotations: Array<{ id: string; body: unknown; author: string; datum: { id: string } }>;
}

const DATUM_FIELDS = `id publisher data createdAt receivedAt
  annotations { id body author createdAt datum { id publisher } }`;

describe('end to end', () => {
  it('replicates rows from both publishers, serves them by GraphQL, and keeps annotations', async () => {
    const { publishers, gatewayUrl } = collector();
    expect(publishers.map((p) => p.name)).toEqual(['pub1', 'pub2']);
    const tag = uniqueTag('e2e');

    // 1. Insert on both publishers with the original Django curl's body.
    const stored = [];
    for (const [i, p] of publishers.entries()) {
      const res = await postDatum(p.url, { tag, n: i, email: 'john@email.com', amount: 123 });
      expect(res.status).toBe(201);
      expect(res.body.publisher).toBe(p.name);
      stored.push(res.body);
    }

    // 2. Log in the way the original README did: form fields to /login/.
    const login = await http<{ token: string }>(`${gatewayUrl}/login/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `username=admin&password=${encodeURIComponent(collector().adminPassword)}`,
    });
    expect(login.status).toBe(200);
    const token = login.body.token;
    expect(token.split('.')).toHaveLength(3);

    // 3. Poll GraphQL (not the database) until both rows have replicated.
    const found = await waitFor('both rows in data(first: 100)', async () => {
      const res = await gql<{ data: { nodes: DatumOut[] } }>(
        `query { data(first: 100) { nodes { ${DATUM_FIELDS} } } }`,
        {},
        token,
      );
      expect(res.status).toBe(200);
      expect(res.body.errors).toBeUndefined();
      const mine = res.body.data?.data.nodes.filter((d) => d.data?.tag === tag) ?? [];
      return mine.length === 2 ? mine : undefined;
    });
    const byPublisher = Object.fromEntries(found.map((d) => [d.publisher, d]));
    for (const [i, s] of stored.entries()) {
      const d = byPublisher[s.publisher];
      expect(d?.id).toBe(s.id);
      expect(d?.data).toEqual({ tag, n: i, email: 'john@email.com', amount: 123 });
      expect(new Date(d?.createdAt ?? 0).toISOString()).toBe(s.createdAt);
      // One clock on this machine: a row arrives after it was stored.
      expect(new Date(d?.receivedAt ?? 0).getTime()).toBeGreaterThanOrEqual(
        new Date(s.createdAt).getTime(),
      );
      expect(d?.annotations).toEqual([]);
    }

    // 4. Annotate the pub2 row; the author is the logged-in user.
    const target = stored[1] as { id: string };
    const annotated = await gql<{
      annotate: {
        id: string;
        dataId: string;
        body: unknown;
        author: string;
        datum: { id: string };
      };
    }>(
      `mutation($id: UUID!, $body: JSON!) {
        annotate(dataId: $id, body: $body) { id dataId body author datum { id } }
      }`,
      { id: target.id, body: { note: 'looks right', score: 5 } },
      token,
    );
    expect(annotated.body.errors).toBeUndefined();
    expect(annotated.body.data?.annotate).toMatchObject({
      dataId: target.id,
      body: { note: 'looks right', score: 5 },
      author: 'admin',
      datum: { id: target.id },
    });

    // 5. Read it back through the annotations field resolver, on datum and on data.
    const one = await gql<{ datum: DatumOut }>(
      `query($id: UUID!) { datum(id: $id) { ${DATUM_FIELDS} } }`,
      { id: target.id },
      token,
    );
    expect(one.body.errors).toBeUndefined();
    expect(one.body.data?.datum.annotations).toHaveLength(1);
    expect(one.body.data?.datum.annotations[0]).toMatchObject({
      id: annotated.body.data?.annotate.id,
      body: { note: 'looks right', score: 5 },
      author: 'admin',
      datum: { id: target.id, publisher: 'pub2' },
    });

    const page = await gql<{ data: { nodes: DatumOut[] } }>(
      `query { data(first: 100) { nodes { ${DATUM_FIELDS} } } }`,
      {},
      token,
    );
    const again = page.body.data?.data.nodes.find((d) => d.id === target.id);
    expect(again?.annotations.map((a) => a.body)).toEqual([{ note: 'looks right', score: 5 }]);
  });

  it('pages through data newest first with Relay cursors, without gaps or repeats', async () => {
    const { publishers } = collector();
    const token = await adminToken();
    const tag = uniqueTag('page');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const p = publishers[i % 2] as { url: string };
      ids.push((await postDatum(p.url, { tag, i })).body.id);
    }
    // Wait until the newest has arrived... and every other one too.
    const seen: string[] = [];
    await waitFor('all 5 rows replicated', async () => {
      const res = await gql<{ datum: { id: string } | null }>(
        `query($id: UUID!) { datum(id: $id) { id } }`,
        { id: ids[4] },
        token,
      );
      return res.body.data?.datum ? true : undefined;
    });
    await waitFor('all 5 rows replicated', async () => {
      seen.length = 0;
      let after: string | null = null;
      for (let pages = 0; pages < 10_000; pages++) {
        const res: Awaited<
          ReturnType<
            typeof gql<{
              data: {
                edges: Array<{ cursor: string; node: { id: string; data: { tag?: string } } }>;
                nodes: Array<{ id: string }>;
                pageInfo: { hasNextPage: boolean; endCursor: string | null };
              };
            }>
          >
        > = await gql(
          `query($after: String) { data(first: 2, after: $after) {
              edges { cursor node { id data } } nodes { id } pageInfo { hasNextPage endCursor } } }`,
          { after },
          token,
        );
        expect(res.body.errors).toBeUndefined();
        const conn = res.body.data?.data;
        if (!conn) throw new Error('no data');
        expect(conn.nodes.map((n) => n.id)).toEqual(conn.edges.map((e) => e.node.id));
        if (conn.edges.length > 0) {
          expect(conn.pageInfo.endCursor).toBe(conn.edges[conn.edges.length - 1]?.cursor);
        }
        for (const e of conn.edges) if (e.node.data?.tag === tag) seen.push(e.node.id);
        if (!conn.pageInfo.hasNextPage) break;
        after = conn.pageInfo.endCursor;
      }
      return seen.length === 5 ? seen : undefined;
    });
    // Newest first: the reverse of insertion order, each exactly once.
    expect(seen).toEqual([...ids].reverse());
  });
});
