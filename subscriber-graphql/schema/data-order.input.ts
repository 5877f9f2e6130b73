import { Field, InputType, registerEnumType } from 'type-graphql';

export enum DataOrderField {
  CREATED_AT = 'CREATED_AT',
  RECEIVED_AT = 'RECEIVED_AT',
  PUBLISHER = 'PUBLISHER',
}

export enum OrderDirection {
  ASC = 'ASC',
  DESC = 'DESC',
}

registerEnumType(DataOrderField, { name: 'DataOrderField' });
registerEnumType(OrderDirection, { name: 'OrderDirection' });

@InputType({
  description:
    'One key of the order: a column (field) or a JSON path (path), not both. JSON values sort ' +
    'numbers numerically, then strings as text, then other values, missing ones last; the id ' +
    'breaks ties, so the order is total.',
})
export class DataOrder {
  @Field(() => DataOrderField, { nullable: true })
  field?: DataOrderField;

  @Field(() => [String], { nullable: true, description: 'Keys and array indexes in `data`.' })
  path?: string[];

  @Field(() => OrderDirection, { defaultValue: OrderDirection.DESC })
  direction!: OrderDirection;
}
