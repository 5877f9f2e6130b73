import { Field, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { Annotation } from './annotation.type.js';
import { PageInfo } from './data-connection.type.js';
import { OrderDirection } from './data-order.input.js';

@ObjectType({ simpleResolvers: true })
export class AnnotationEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => Annotation)
  node!: Annotation;
}

@ObjectType({ description: 'A page of annotations, across all data.', simpleResolvers: true })
export class AnnotationConnection {
  @Field(() => [AnnotationEdge])
  edges!: AnnotationEdge[];

  @Field(() => [Annotation])
  nodes!: Annotation[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;

  /** Counts the annotations of the whole filter: run only when `totalCount` is selected. */
  count!: () => Promise<number>;
}

export enum AnnotationOrderField {
  CREATED_AT = 'CREATED_AT',
  UPDATED_AT = 'UPDATED_AT',
}

registerEnumType(AnnotationOrderField, { name: 'AnnotationOrderField' });

@InputType({ description: 'One key of the order; the id breaks ties.' })
export class AnnotationOrder {
  @Field(() => AnnotationOrderField)
  field!: AnnotationOrderField;

  @Field(() => OrderDirection, { defaultValue: OrderDirection.DESC })
  direction!: OrderDirection;
}
