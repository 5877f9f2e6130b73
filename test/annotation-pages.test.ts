/**
 * `annotations(filter, first, after, last, before, orderBy)` across all data: filters on body and
 * author, both paging directions, totalCount, and each annotation's datum.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { adminToken, gql, replicatedDatum, uniqueTag } from './helpers.js';

const tag = uniqueTag('ann-pages');
const made: string[] = [];
let token: string;
let dataId: string;

interface Page {
  nodes: Array<{ id: string; body: { k: number }; datum: { id: string } }>;
  pageInfo: {
    hasNextPage: boolean;
    hasPreviousPage: boolean;
    startCursor: string;
    endCursor: string;
  };
  totalCount: number;
}

const QUERY = `query($f: AnnotationFilter, $o: [AnnotationOrder!], $first: Int, $after: String, $last: Int, $before: String) {
  annotations(filter: $f, orderBy: $o, first: $first, after: $after, last: $last, before: $before) {
    totalCount nodes { id body datum { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`;

async function page(vars: Record<string, unknown>): Promise<Page> {
  const res = await gql<{ annotations: Page }>(
    QUERY,
    { f: { body: { contains: { tag } } }, ...vars },
    token,
  );
  if (res.body.errors) throw new Error(JSON.stringify(res.body.errors));
  return res.body.data?.annotations as Page;
}

async function walk(o: unknown, backward: boolean): Promise<number[]> {
  const seen: number[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 10; i++) {
    const p = await page(
      backward ? { o, last: 2, before: cursor } : { o, first: 2, after: cursor },
    );
    const ks = p.nodes.map((n) => n.body.k);
    if (backward) seen.unshift(...ks);
    else seen.push(...ks);
    if (!(backward ? p.pageInfo.hasPreviousPage : p.pageInfo.hasNextPage)) return seen;
    cursor = backward ? p.pageInfo.startCursor : p.pageInfo.endCursor;
  }
  throw new Error('did not reach the end');
}

beforeAll(async () => {
  token = await adminToken();
  dataId = await replicatedDatum({ tag });
  for (let k = 0; k < 5; k++) {
    const res = await gql<{ annotate: { id: string } }>(
      'mutation($id: UUID!, $b: JSON!) { annotate(dataId: $id, body: $b) { id } }',
      { id: dataId, b: { tag, k } },
      token,
    );
    made.push(res.body.data?.annotate.id as string);
  }
});

describe('annotations across all data', () => {
  it('pages newest first by default, and oldest first when asked, both ways', async () => {
    expect(await walk(undefined, false)).toEqual([4, 3, 2, 1, 0]);
    expect(await walk(undefined, true)).toEqual([4, 3, 2, 1, 0]);
    const asc = [{ field: 'CREATED_AT', direction: 'ASC' }];
    expect(await walk(asc, false)).toEqual([0, 1, 2, 3, 4]);
    expect(await walk(asc, true)).toEqual([0, 1, 2, 3, 4]);
  });

  it('filters on the body and the author, counts, and serves each datum', async () => {
    const all = await page({ first: 10 });
    expect(all.totalCount).toBe(5);
    expect(all.nodes.every((n) => n.datum.id === dataId)).toBe(true);
    const some = await page({
      first: 10,
      f: { body: { contains: { tag }, path: [{ path: ['k'], gte: 3 }] }, author: { eq: 'admin' } },
    });
    expect(some.nodes.map((n) => n.body.k).sort()).toEqual([3, 4]);
    expect(some.totalCount).toBe(2);
    const nobody = await page({
      first: 10,
      f: { body: { contains: { tag } }, author: { eq: 'nobody' } },
    });
    expect(nobody.totalCount).toBe(0);
  });
});
