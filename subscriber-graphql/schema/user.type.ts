import { GraphQLUUID } from 'graphql-scalars';
import { Field, ObjectType } from 'type-graphql';

@ObjectType({ description: 'A user of the gateway.' })
export class User {
  @Field(() => GraphQLUUID)
  id!: string;

  @Field(() => String)
  username!: string;
}
