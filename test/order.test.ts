/**
 * `data(orderBy:)` with keyset pages both ways: every order walked forward (first/after) and
 * backward (last/before) gives the same rows in the same order, without gaps or repeats; JSON
 * paths sort numbers numerically, then strings, missing last; cursors are tied to their order and
 * filter; totalCount counts the filter.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { adminToken, collector, gql, postDatum, replicated, uniqueTag } from './helpers.js';

const tag = uniqueTag('ord');
type Doc = { name: string; n?: number | string };
const docs: Doc[] = [
  { name: 'a', n: 9 },
  { name: 'b', n: 10 },
  { name: 'c', n: 100 },
  { name: 'd', n: 'apple' },
  { name: 'e', n: 'Banana' },
  { name: 'f' },
  { name: 'g', n: 10 },
];
const rows: Array<{ name: string; id: string; publisher: string; n?: number | string }> = [];
let token: string;

interface Page {
  nodes: Array<{ id: string }>;
  pageInfo: {
    hasNextPage: boolean;
    hasPreviousPage: boolean;
    startCursor: string;
    endCursor: string;
  };
  totalCount?: number;
}

const QUERY = `query($f: DataFilter, $o: [DataOrder!], $first: Int, $after: String, $last: Int, $before: String) {
  data(filter: $f, orderBy: $o, first: $first, after: $after, last: $last, before: $before) {
    nodes { id } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } totalCount } }`;

async function page(vars: Record<string, unknown>) {
  return gql<{ data: Page }>(QUERY, { f: { data: { contains: { tag } } }, ...vars }, token);
}

async function walk(orderBy: unknown, backward: boolean): Promise<string[]> {
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 20; i++) {
    const res = await page(
      backward ? { o: orderBy, last: 2, before: cursor } : { o: orderBy, first: 2, after: cursor },
    );
    if (res.body.errors) throw new Error(JSON.stringify(res.body.errors));
    const p = res.body.data?.data as Page;
    const ids = p.nodes.map((n) => n.id);
    if (backward) seen.unshift(...ids);
    else seen.push(...ids);
    const more = backward ? p.pageInfo.hasPreviousPage : p.pageInfo.hasNextPage;
    if (!more) return seen;
    cursor = backward ? p.pageInfo.startCursor : p.pageInfo.endCursor;
  }
  throw new Error('did not reach the end');
}

const byName = (ids: string[]) => ids.map((id) => rows.find((r) => r.id === id)?.name);
const cmp = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);

/** The order a JSON path sort must give: numbers, then strings (bytewise), then missing. */
function expectedByN(desc: boolean): string[] {
  const rank = (n: unknown) => (typeof n === 'number' ? 0 : typeof n === 'string' ? 1 : 6);
  return [...rows]
    .sort((x, y) => {
      const r = rank(x.n) - rank(y.n);
      if (r !== 0) return r;
      const v = x.n === undefined ? 0 : cmp(x.n, y.n as string | number);
      if (v !== 0) return desc ? -v : v;
      return desc ? -cmp(x.id, y.id) : cmp(x.id, y.id);
    })
    .map((r) => r.name);
}

beforeAll(async () => {
  token = await adminToken();
  const pubs = collector().publishers;
  for (const [i, d] of docs.entries()) {
    const pub = pubs[i % 2] as { url: string; name: string };
    const { name, ...rest } = d;
    const res = await postDatum(pub.url, { tag, name, ...rest });
    rows.push({ name, id: (res.body as { id: string }).id, publisher: pub.name, n: d.n });
  }
  for (const r of rows) await replicated(r.id);
});

describe('orderBy, walked both ways', () => {
  it.each([
    ['newest first (the default)', undefined, () => [...rows].reverse().map((r) => r.name)],
    ['oldest first', [{ field: 'CREATED_AT', direction: 'ASC' }], () => rows.map((r) => r.name)],
    [
      'publisher, then oldest first',
      [
        { field: 'PUBLISHER', direction: 'ASC' },
        { field: 'CREATED_AT', direction: 'ASC' },
      ],
      () =>
        [...rows]
          .sort((x, y) => cmp(x.publisher, y.publisher) || rows.indexOf(x) - rows.indexOf(y))
          .map((r) => r.name),
    ],
    ['a JSON path, ascending', [{ path: ['n'], direction: 'ASC' }], () => expectedByN(false)],
    ['a JSON path, descending', [{ path: ['n'], direction: 'DESC' }], () => expectedByN(true)],
  ])('%s', async (_name, orderBy, expected) => {
    const forward = byName(await walk(orderBy, false));
    expect(forward).toEqual(expected());
    expect(byName(await walk(orderBy, true))).toEqual(forward);
  });
});

describe('pages', () => {
  it('say where they are, and totalCount counts the whole filter', async () => {
    const first = (await page({ first: 3 })).body.data?.data as Page;
    expect(first.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    expect(first.totalCount).toBe(7);
    const last = (await page({ last: 3 })).body.data?.data as Page;
    expect(last.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    const middle = (await page({ first: 1, after: first.pageInfo.endCursor })).body.data
      ?.data as Page;
    expect(middle.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
  });

  it('refuse a cursor from another order or filter, and first with last', async () => {
    const first = (await page({ first: 1 })).body.data?.data as Page;
    const otherOrder = await page({
      first: 1,
      after: first.pageInfo.endCursor,
      o: [{ field: 'PUBLISHER' }],
    });
    expect(otherOrder.status).toBe(400);
    expect(otherOrder.body.errors?.[0]?.message).toMatch(/another orderBy or filter/);
    const otherFilter = await gql(QUERY, { first: 1, after: first.pageInfo.endCursor }, token);
    expect(otherFilter.body.errors?.[0]?.message).toMatch(/another orderBy or filter/);
    const both = await page({ first: 1, last: 1 });
    expect(both.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const neither = await page({ o: [{ direction: 'ASC' }] });
    expect(neither.body.errors?.[0]?.message).toMatch(/either "field" or "path"/);
  });
});
