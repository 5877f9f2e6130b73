/**
 * Pages without a filter reuse their compiled statement (common/keyset.ts, StatementReuse): the
 * same order, walked forward and backward with cursors, must give exactly the pages that the
 * statement built afresh gives (with a match-everything filter, which is never reused). Both walks
 * run in one repeatable-read snapshot, so rows replicated meanwhile by other tests change nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKysely } from '../common/db.js';
import { pageStatements } from '../common/keyset.js';
import type { SubscriberDB, SubscriberDb } from '../subscriber-graphql/db.js';
import { type DataOrderSpec, listDataOrdered } from '../subscriber-graphql/services/data.js';
import { collector, postDatum, replicated, uniqueTag } from './helpers.js';

let db: ReturnType<typeof createKysely<SubscriberDB>>;

beforeAll(async () => {
  db = createKysely<SubscriberDB>(collector().subscriberGatewayUrl, {
    max: 2,
    applicationName: 'statement-reuse-test',
    rawJson: true,
    timestampText: true,
  });
  // Enough rows for several pages, some sharing a JSON value so the id breaks the tie.
  const tag = uniqueTag('reuse');
  for (let i = 0; i < 6; i++) {
    const pub = collector().publishers[i % 2] as { url: string };
    const { body } = await postDatum(pub.url, { reuse: tag, n: i % 3 });
    await replicated(body.id);
  }
});
afterAll(() => db.destroy());

/** Every page of `size` rows, forward or backward, as lists of ids; at most `pages` pages. */
async function walk(
  trx: SubscriberDb,
  orderBy: DataOrderSpec[],
  backward: boolean,
  filtered: boolean,
  pages = 4,
  size = 2,
): Promise<string[][]> {
  const out: string[][] = [];
  let cursor: string | null = null;
  for (let i = 0; i < pages; i++) {
    const args = backward ? { last: size, before: cursor } : { first: size, after: cursor };
    const page = await listDataOrdered(trx, args, filtered ? {} : null, orderBy, {
      annotations: true,
    });
    out.push(page.rows.map((r) => r.id));
    cursor = backward ? page.startCursor : page.endCursor;
    if (!(backward ? page.hasPreviousPage : page.hasNextPage)) break;
  }
  return out;
}

describe('statement reuse for pages without a filter', () => {
  const orders: Array<[string, DataOrderSpec[]]> = [
    ['newest first', []],
    ['oldest first', [{ field: 'CREATED_AT', direction: 'ASC' }]],
    [
      'publisher ascending, then newest first (mixed directions)',
      [
        { field: 'PUBLISHER', direction: 'ASC' },
        { field: 'CREATED_AT', direction: 'DESC' },
      ],
    ],
    ['a JSON path, descending', [{ path: ['n'], direction: 'DESC' }]],
  ];

  it.each(orders)('%s: the same pages as a statement built each time', async (_name, orderBy) => {
    await db
      .transaction()
      .setIsolationLevel('repeatable read')
      .execute(async (trx) => {
        for (const backward of [false, true]) {
          // Twice reused: the first walk compiles the shapes, the second only fills them in.
          const reused = await walk(trx, orderBy, backward, false);
          expect(await walk(trx, orderBy, backward, false)).toEqual(reused);
          expect(reused.flat().length).toBeGreaterThan(4);
          expect(await walk(trx, orderBy, backward, true)).toEqual(reused);
        }
      });
  });

  it('compiles each shape once: later pages only fill in the size and the cursor', async () => {
    const orderBy: DataOrderSpec[] = [{ path: [uniqueTag('shape')], direction: 'ASC' }];
    const before = pageStatements.compiled;
    const first = await listDataOrdered(db, { first: 1 }, null, orderBy);
    expect(pageStatements.compiled).toBe(before + 1);
    // Another size: the same shape. After a cursor: a second shape (a WHERE), once.
    await listDataOrdered(db, { first: 3 }, null, orderBy);
    await listDataOrdered(db, { first: 2, after: first.endCursor }, null, orderBy);
    await listDataOrdered(db, { first: 1, after: first.endCursor }, null, orderBy);
    expect(pageStatements.compiled).toBe(before + 2);
    // With a filter, every page is built afresh and nothing is kept.
    await listDataOrdered(db, { first: 1 }, {}, orderBy);
    expect(pageStatements.compiled).toBe(before + 2);
  });
});
