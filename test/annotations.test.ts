/** The annotations of a datum come back oldest first: by created_at, then by id. */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { adminToken, collector, gql, replicatedDatum, uniqueTag, withClient } from './helpers.js';

const ANNOTATIONS = 'query($id: UUID!) { datum(id: $id) { annotations { id body } } }';

async function annotationIds(dataId: string): Promise<string[]> {
  const res = await gql<{ datum: { annotations: Array<{ id: string }> } }>(
    ANNOTATIONS,
    { id: dataId },
    await adminToken(),
  );
  expect(res.status).toBe(200);
  expect(res.body.errors).toBeUndefined();
  return res.body.data?.datum.annotations.map((a) => a.id) ?? [];
}

describe('annotation order', () => {
  it('three annotations written one after another come back in that order', async () => {
    const dataId = await replicatedDatum({ tag: uniqueTag('order') });
    const token = await adminToken();
    const written: string[] = [];
    for (const n of [1, 2, 3]) {
      const res = await gql<{ annotate: { id: string } }>(
        'mutation($id: UUID!, $body: JSON!) { annotate(dataId: $id, body: $body) { id } }',
        { id: dataId, body: { n } },
        token,
      );
      expect(res.body.errors).toBeUndefined();
      written.push(res.body.data?.annotate.id as string);
    }
    expect(await annotationIds(dataId)).toEqual(written);
  });

  it('orders by created_at, then id, whatever the order of insertion', async () => {
    const dataId = await replicatedDatum({ tag: uniqueTag('ties') });
    const [u0, u1, u2, u3, u4] = Array.from({ length: 5 }, () => randomUUID()).sort() as [
      string,
      string,
      string,
      string,
      string,
    ];
    // Inserted in neither time nor id order; three share a timestamp, inserted against id order.
    const rows: Array<[string, string]> = [
      [u0, '2031-01-01 00:00:03+00'],
      [u4, '2031-01-01 00:00:02+00'],
      [u1, '2031-01-01 00:00:02+00'],
      [u3, '2031-01-01 00:00:01+00'],
      [u2, '2031-01-01 00:00:02+00'],
    ];
    await withClient(collector().subscriberAdminUrl, async (c) => {
      for (const [id, at] of rows) {
        await c.query(
          `INSERT INTO annotation (id, data_id, body, author, created_at, updated_at)
           VALUES ($1, $2, '{}', 'admin', $3, $3)`,
          [id, dataId, at],
        );
      }
    });
    expect(await annotationIds(dataId)).toEqual([u3, u1, u2, u4, u0]);
  });
});
