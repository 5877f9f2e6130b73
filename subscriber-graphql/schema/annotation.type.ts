import { Field, ObjectType } from 'type-graphql';
import type { Timestamp } from '../../common/timestamps.js';
import { DateTimeScalar } from './datetime.scalar.js';
import { JSONScalar } from './json.scalar.js';
import { UUIDScalar } from './uuid.scalar.js';

@ObjectType({
  description: 'A note on a datum, kept only on the subscriber.',
  simpleResolvers: true,
})
export class Annotation {
  @Field(() => UUIDScalar)
  id!: string;

  @Field(() => UUIDScalar, { description: 'The annotated datum.' })
  dataId!: string;

  /** The stored JSON as RawJson, or its TOO_LARGE_TO_SERVE error (services/annotations.ts, guardBodies). */
  @Field(() => JSONScalar, {
    nullable: true,
    description:
      'Any JSON value; null, with a TOO_LARGE_TO_SERVE error, only if it cannot be written out safely.',
  })
  body!: unknown;

  @Field(() => String, { description: 'Username of the user who wrote it.' })
  author!: string;

  @Field(() => DateTimeScalar)
  createdAt!: Timestamp;

  @Field(() => DateTimeScalar)
  updatedAt!: Timestamp;
}
