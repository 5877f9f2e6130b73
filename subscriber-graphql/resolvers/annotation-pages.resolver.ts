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
import { mapErrors } from '../graphql-errors.js';
import { AnnotationConnection, AnnotationOrder } from '../schema/annotation-connection.type.js';
import { toConnection } from '../schema/data-connection.type.js';
import { AnnotationFilter } from '../schema/data-filter.input.js';
import { countAnnotations, listAnnotations } from '../services/annotation-pages.js';

@UseMiddleware(mapErrors)
@Resolver(() => AnnotationConnection)
export class AnnotationPagesResolver {
  @Authorized()
  @Query(() => AnnotationConnection, {
    description:
      'Annotations across all data, filtered and ordered (newest first by default), in keyset ' +
      'pages: first/after forward, last/before backward.',
  })
  async annotations(
    @Ctx() ctx: Context,
    @Arg('first', () => Int, { nullable: true }) first?: number | null,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
    @Arg('last', () => Int, { nullable: true }) last?: number | null,
    @Arg('before', () => String, { nullable: true }) before?: string | null,
    @Arg('filter', () => AnnotationFilter, { nullable: true }) filter?: AnnotationFilter | null,
    @Arg('orderBy', () => [AnnotationOrder], { nullable: true }) orderBy?: AnnotationOrder[] | null,
  ): Promise<AnnotationConnection> {
    const page = await listAnnotations(
      ctx.db,
      { first, after, last, before },
      filter,
      orderBy ?? [],
    );
    return toConnection(page, () => countAnnotations(ctx.db, filter));
  }

  @FieldResolver(() => Int, { description: 'How many annotations pass the filter, in all.' })
  totalCount(@Root() connection: AnnotationConnection): Promise<number> {
    return connection.count();
  }
}
