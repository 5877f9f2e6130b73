import { Field, ObjectType } from 'type-graphql';
import type { OrderedPage } from '../../common/keyset.js';
import { Datum } from './datum.type.js';

@ObjectType({ description: 'Relay page information.', simpleResolvers: true })
export class PageInfo {
  @Field(() => Boolean)
  hasNextPage!: boolean;

  @Field(() => Boolean)
  hasPreviousPage!: boolean;

  @Field(() => String, { nullable: true, description: 'Pass as `before` to get the page before.' })
  startCursor!: string | null;

  @Field(() => String, { nullable: true, description: 'Pass as `after` to get the next page.' })
  endCursor!: string | null;
}

@ObjectType({ simpleResolvers: true })
export class DatumEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => Datum)
  node!: Datum;
}

@ObjectType({
  description: 'A page of data, in the order asked for (newest first by default).',
  simpleResolvers: true,
})
export class DataConnection {
  @Field(() => [DatumEdge])
  edges!: DatumEdge[];

  @Field(() => [Datum], { description: 'The nodes of `edges`, for clients that need no cursors.' })
  nodes!: Datum[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;

  /** Counts the rows of the whole filter: run only when `totalCount` is selected. */
  count!: () => Promise<number>;
}

/**
 * The Relay shape of a keyset page; `count` runs only if totalCount is selected, the edges (a
 * cursor for every row) are made only if `edges` is, and the page's cursors only if pageInfo's are.
 */
export function toConnection<T>(page: OrderedPage<T>, count: () => Promise<number>) {
  return {
    get edges() {
      return page.rows.map((node) => ({ cursor: page.cursor(node), node }));
    },
    nodes: page.rows,
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: page.hasPreviousPage,
      // Read from the page only when selected: each is encoded on demand.
      get startCursor() {
        return page.startCursor;
      },
      get endCursor() {
        return page.endCursor;
      },
    },
    count,
  };
}
