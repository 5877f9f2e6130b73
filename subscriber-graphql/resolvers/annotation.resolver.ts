import type { GraphQLResolveInfo } from 'graphql';
import {
  Arg,
  Authorized,
  Ctx,
  FieldResolver,
  Info,
  Mutation,
  Resolver,
  Root,
  UseMiddleware,
} from 'type-graphql';
import type { AuthUser } from '../auth.js';
import { type Context, withAnnotations } from '../context.js';
import { mapErrors } from '../graphql-errors.js';
import { Annotation } from '../schema/annotation.type.js';
import { Datum } from '../schema/datum.type.js';
import { JSONScalar } from '../schema/json.scalar.js';
import { UUIDScalar } from '../schema/uuid.scalar.js';
import { annotate, deleteAnnotation, updateAnnotation } from '../services/annotations.js';

@UseMiddleware(mapErrors)
@Resolver(() => Annotation)
export class AnnotationResolver {
  @Authorized()
  @Mutation(() => Annotation, {
    description: 'Annotate a datum by its UUID; the logged-in user is recorded as the author.',
  })
  async annotate(
    @Ctx() ctx: Context,
    @Arg('dataId', () => UUIDScalar) rawDataId: string,
    @Arg('body', () => JSONScalar, { description: 'Any JSON value.' }) body: unknown,
  ): Promise<Annotation> {
    // The UUID scalar keeps the client's letter case; loader keys are PostgreSQL's lower case.
    const dataId = rawDataId.toLowerCase();
    // The authChecker guarantees a user here.
    const authorId = (ctx.user as AuthUser).id;
    const row = await annotate(ctx.db, { dataId, body, authorId });
    ctx.loaders.annotationsByDataId.clear(dataId);
    return row;
  }

  @Authorized()
  @Mutation(() => Annotation, {
    description:
      "Replace an annotation's body (updatedAt becomes now). Only its author or an admin may; " +
      'anyone else gets FORBIDDEN, an unknown id NOT_FOUND.',
  })
  async updateAnnotation(
    @Ctx() ctx: Context,
    @Arg('id', () => UUIDScalar) id: string,
    @Arg('body', () => JSONScalar, { description: 'Any JSON value.' }) body: unknown,
  ): Promise<Annotation> {
    // The authChecker guarantees a user here.
    const editor = ctx.user as AuthUser;
    const row = await updateAnnotation(ctx.db, { id: id.toLowerCase(), body, editor });
    ctx.loaders.annotationsByDataId.clear(row.dataId);
    return row;
  }

  @Authorized()
  @Mutation(() => UUIDScalar, {
    description:
      'Delete an annotation and return its id. Only its author or an admin may; anyone else ' +
      'gets FORBIDDEN, an unknown id NOT_FOUND.',
  })
  async deleteAnnotation(
    @Ctx() ctx: Context,
    @Arg('id', () => UUIDScalar) id: string,
  ): Promise<string> {
    const editor = ctx.user as AuthUser;
    const row = await deleteAnnotation(ctx.db, { id: id.toLowerCase(), editor });
    ctx.loaders.annotationsByDataId.clear(row.dataId);
    return row.id;
  }

  @FieldResolver(() => Datum, { description: 'The annotated datum.' })
  async datum(
    @Root() annotation: Annotation,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ): Promise<Datum> {
    const datum = await withAnnotations(
      ctx,
      info,
      await ctx.loaders.datumById.load(annotation.dataId),
    );
    // The foreign key makes a missing datum impossible.
    if (!datum)
      throw new Error(`datum ${annotation.dataId} of annotation ${annotation.id} missing`);
    return datum;
  }
}
