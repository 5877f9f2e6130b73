import { GraphQLUUID } from 'graphql-scalars';
import {
  Arg,
  Authorized,
  Ctx,
  FieldResolver,
  Int,
  Query,
  Resolver,
  Root,
  UseMiddleware,
} from 'type-graphql';
import type { Context } from '../context.js';
import { mapErrors, tooLargeToServe } from '../graphql-errors.js';
import { Annotation } from '../schema/annotation.type.js';
import { DataConnection, toConnection } from '../schema/data-connection.type.js';
import { DataFilter } from '../schema/data-filter.input.js';
import { DataOrder } from '../schema/data-order.input.js';
import { Datum } from '../schema/datum.type.js';
import { JSONScalar } from '../schema/json.scalar.js';
import { countData, listDataOrdered } from '../services/data.js';

@UseMiddleware(mapErrors)
@Resolver(() => Datum)
export class DataResolver {
  @Authorized()
  @Query(() => DataConnection, {
    description:
      "All publishers' data, filtered and ordered (newest first by default), in keyset pages: " +
      'first/after forward, last/before backward.',
  })
  async data(
    @Ctx() ctx: Context,
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
    const page = await listDataOrdered(
      ctx.db,
      { first, after, last, before },
      filter,
      orderBy ?? [],
    );
    for (const row of page.rows) ctx.loaders.datumById.prime(row.id, row);
    return toConnection(page, () => countData(ctx.db, filter));
  }

  @Authorized()
  @Query(() => Datum, { nullable: true, description: 'One datum by id, or null if unknown.' })
  async datum(
    @Ctx() ctx: Context,
    @Arg('id', () => GraphQLUUID) id: string,
  ): Promise<Datum | null> {
    // The UUID scalar keeps the client's letter case; PostgreSQL answers in lower case.
    return ctx.loaders.datumById.load(id.toLowerCase());
  }

  @FieldResolver(() => JSONScalar, {
    name: 'data',
    nullable: true,
    description:
      'The stored JSON value: null only if the JSON value itself is null, or with a ' +
      'TOO_LARGE_TO_SERVE error if it cannot be written out safely.',
  })
  storedJson(@Root() datum: Datum): unknown {
    // SQL NULL from the read guard (services/data.ts); a JSON null arrives as RawJson('null').
    if (datum.data === null) throw tooLargeToServe(`The data of datum ${datum.id}`);
    return datum.data;
  }

  @FieldResolver(() => [Annotation], { description: 'Annotations on this datum, oldest first.' })
  async annotations(@Root() datum: Datum, @Ctx() ctx: Context): Promise<Annotation[]> {
    return ctx.loaders.annotationsByDataId.load(datum.id);
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
