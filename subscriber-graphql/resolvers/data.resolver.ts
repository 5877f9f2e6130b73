import type { GraphQLResolveInfo } from 'graphql';
import {
  Arg,
  Authorized,
  Ctx,
  FieldResolver,
  Info,
  Int,
  Query,
  Resolver,
  Root,
  UseMiddleware,
} from 'type-graphql';
import { type Context, withAnnotations } from '../context.js';
import { mapErrors } from '../graphql-errors.js';
import { DataConnection, toConnection } from '../schema/data-connection.type.js';
import { DataFilter } from '../schema/data-filter.input.js';
import { DataOrder } from '../schema/data-order.input.js';
import { Datum } from '../schema/datum.type.js';
import { UUIDScalar } from '../schema/uuid.scalar.js';
import { selects } from '../selection.js';
import { countData, listDataOrdered } from '../services/data.js';

/** Where a `data` page's rows are, in the query: their annotations are fetched with the page. */
const ANNOTATION_PATHS = [
  ['nodes', 'annotations'],
  ['edges', 'node', 'annotations'],
] as const;

@Resolver(() => Datum)
export class DataResolver {
  @Authorized()
  @UseMiddleware(mapErrors)
  @Query(() => DataConnection, {
    description:
      "All publishers' data, filtered and ordered (newest first by default), in keyset pages: " +
      'first/after forward, last/before backward.',
  })
  async data(
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
    @Arg('first', () => Int, { nullable: true, description: 'Page size, 0 to 1000 (default 50).' })
    first?: number | null,
    @Arg('after', () => String, { nullable: true, description: 'endCursor of the previous page.' })
    after?: string | null,
    @Arg('last', () => Int, { nullable: true, description: 'Page size walking backward.' })
    last?: number | null,
    @Arg('before', () => String, { nullable: true, description: 'startCursor of the next page.' })
    before?: string | null,
    @Arg('filter', () => DataFilter, { nullable: true, description: 'Which data to return.' })
    filter?: DataFilter | null,
    @Arg('orderBy', () => [DataOrder], { nullable: true, description: 'Sort keys, in order.' })
    orderBy?: DataOrder[] | null,
  ): Promise<DataConnection> {
    // The page's annotations in the page's statement, so that each row's `annotations` field is
    // a plain value: no second statement, and no promise per row for graphql-js to wait on.
    const page = await listDataOrdered(
      ctx.db,
      { first, after, last, before },
      filter,
      orderBy ?? [],
      { annotations: ANNOTATION_PATHS.some((path) => selects(info, path)) },
    );
    ctx.loaders.pages.push(page.rows);
    return toConnection(page, () => countData(ctx.db, filter));
  }

  @Authorized()
  @UseMiddleware(mapErrors)
  @Query(() => Datum, { nullable: true, description: 'One datum by id, or null if unknown.' })
  async datum(
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
    @Arg('id', () => UUIDScalar) id: string,
  ): Promise<Datum | null> {
    // The UUID scalar keeps the client's letter case; PostgreSQL answers in lower case.
    return withAnnotations(ctx, info, await ctx.loaders.datumById.load(id.toLowerCase()));
  }
}

@UseMiddleware(mapErrors)
@Resolver(() => DataConnection)
export class DataConnectionResolver {
  @FieldResolver(() => Int, {
    description: 'How many data pass the filter, across all pages (one count; only when asked).',
  })
  totalCount(@Root() connection: DataConnection): Promise<number> {
    return connection.count();
  }
}
