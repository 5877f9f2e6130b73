import { Field, ObjectType } from 'type-graphql';
import { Datum } from './datum.type.js';

@ObjectType({ description: 'Relay page information.' })
export class PageInfo {
  @Field(() => Boolean)
  hasNextPage!: boolean;

  @Field(() => String, { nullable: true, description: 'Pass as `after` to get the next page.' })
  endCursor!: string | null;
}

@ObjectType()
export class DatumEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => Datum)
  node!: Datum;
}

@ObjectType({ description: 'A page of data, newest first.' })
export class DataConnection {
  @Field(() => [DatumEdge])
  edges!: DatumEdge[];

  @Field(() => [Datum], { description: 'The nodes of `edges`, for clients that need no cursors.' })
  nodes!: Datum[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}
