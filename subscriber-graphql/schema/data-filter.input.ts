/**
 * The GraphQL shape of common/filter.ts's filter tree. Field names are the public API: clients and
 * docs depend on them.
 */
import { Field, InputType } from 'type-graphql';
import type * as F from '../../common/filter.js';
import { DateTimeScalar } from './datetime.scalar.js';
import { JSONScalar } from './json.scalar.js';
import { UUIDScalar } from './uuid.scalar.js';

@InputType({ description: 'Conditions on a text value; all given must hold.' })
export class StringFilter implements F.StringFilter {
  @Field(() => String, { nullable: true }) eq?: string;
  @Field(() => String, { nullable: true }) ne?: string;
  @Field(() => [String], { nullable: true }) in?: string[];
  @Field(() => [String], { nullable: true }) notIn?: string[];
}

@InputType({ description: 'Conditions on a UUID.' })
export class UUIDFilter implements F.UuidFilter {
  @Field(() => UUIDScalar, { nullable: true }) eq?: string;
  @Field(() => [UUIDScalar], { nullable: true }) in?: string[];
}

@InputType({ description: 'Conditions on a point in time; all given must hold.' })
export class DateTimeFilter implements F.DateTimeFilter {
  @Field(() => DateTimeScalar, { nullable: true }) gt?: Date;
  @Field(() => DateTimeScalar, { nullable: true }) gte?: Date;
  @Field(() => DateTimeScalar, { nullable: true }) lt?: Date;
  @Field(() => DateTimeScalar, { nullable: true }) lte?: Date;
}

@InputType({
  description:
    'A condition on the value at a path in the JSON. Comparisons are typed by the value given: ' +
    'numbers compare numerically, strings as text; a value of another JSON type does not match.',
})
export class JsonPathCondition implements F.JsonPathCondition {
  @Field(() => [String], {
    description:
      'Keys and array indexes, e.g. ["customer", "address", "city"] or ["items", "0", "sku"].',
  })
  path!: string[];
  @Field(() => JSONScalar, { nullable: true }) eq?: unknown;
  @Field(() => JSONScalar, { nullable: true }) ne?: unknown;
  @Field(() => JSONScalar, { nullable: true }) gt?: unknown;
  @Field(() => JSONScalar, { nullable: true }) gte?: unknown;
  @Field(() => JSONScalar, { nullable: true }) lt?: unknown;
  @Field(() => JSONScalar, { nullable: true }) lte?: unknown;
  @Field(() => [JSONScalar], { nullable: true }) in?: unknown[];
  @Field(() => String, { nullable: true, description: 'SQL LIKE on a string value (% and _).' })
  like?: string;
  @Field(() => String, { nullable: true, description: 'Case-insensitive LIKE.' }) ilike?: string;
  @Field(() => Boolean, { nullable: true, description: 'The path is present (even if null).' })
  exists?: boolean;
  @Field(() => Boolean, {
    nullable: true,
    description: 'The value is JSON null, or the path is missing.',
  })
  isNull?: boolean;
}

@InputType({ description: 'Conditions on a JSON document; all given must hold.' })
export class JsonFilter implements F.JsonFilter {
  @Field(() => JSONScalar, { nullable: true, description: 'The document contains this (@>).' })
  contains?: unknown;
  @Field(() => JSONScalar, {
    nullable: true,
    description: 'The document is contained in this (<@).',
  })
  containedBy?: unknown;
  @Field(() => String, { nullable: true, description: 'A top-level key (or array string) exists.' })
  hasKey?: string;
  @Field(() => [String], { nullable: true }) hasAnyKeys?: string[];
  @Field(() => [String], { nullable: true }) hasAllKeys?: string[];
  @Field(() => [JsonPathCondition], { nullable: true, description: 'Every condition must hold.' })
  path?: JsonPathCondition[];
  @Field(() => String, {
    nullable: true,
    description: 'A PostgreSQL SQL/JSON path predicate, e.g. "$.items[*].price > 100" (@@).',
  })
  matches?: string;
}

@InputType({ description: 'Some annotation of the datum matches.' })
export class AnnotationFilter implements F.AnnotationFilter {
  @Field(() => [AnnotationFilter], { nullable: true }) and?: AnnotationFilter[];
  @Field(() => [AnnotationFilter], { nullable: true }) or?: AnnotationFilter[];
  @Field(() => AnnotationFilter, { nullable: true }) not?: AnnotationFilter;
  @Field(() => StringFilter, { nullable: true }) author?: StringFilter;
  @Field(() => JsonFilter, { nullable: true }) body?: JsonFilter;
  @Field(() => DateTimeFilter, { nullable: true }) createdAt?: DateTimeFilter;
}

@InputType({ description: 'Which data to return; all given conditions must hold.' })
export class DataFilter implements F.DataFilter {
  @Field(() => [DataFilter], { nullable: true }) and?: DataFilter[];
  @Field(() => [DataFilter], { nullable: true }) or?: DataFilter[];
  @Field(() => DataFilter, { nullable: true }) not?: DataFilter;
  @Field(() => UUIDFilter, { nullable: true }) id?: UUIDFilter;
  @Field(() => StringFilter, { nullable: true }) publisher?: StringFilter;
  @Field(() => DateTimeFilter, { nullable: true }) createdAt?: DateTimeFilter;
  @Field(() => DateTimeFilter, { nullable: true }) receivedAt?: DateTimeFilter;
  @Field(() => JsonFilter, { nullable: true }) data?: JsonFilter;
  @Field(() => Boolean, { nullable: true, description: 'Has at least one annotation.' })
  annotated?: boolean;
  @Field(() => AnnotationFilter, { nullable: true }) annotations?: AnnotationFilter;
}
