/**
 * The `DateTime` scalar: graphql-scalars' GraphQLDateTime (same name, description and inputs),
 * with a fast path for output. The gateway reads timestamps from PostgreSQL as ISO text already
 * (common/timestamps.ts): those are served as they are, without a Date in between.
 */
import { GraphQLScalarType } from 'graphql';
import { GraphQLDateTime } from 'graphql-scalars';
import { ISO_UTC } from '../../common/timestamps.js';

export const DateTimeScalar = new GraphQLScalarType({
  ...GraphQLDateTime.toConfig(),
  serialize(value) {
    if (typeof value === 'string' && ISO_UTC.test(value)) return value;
    const date = GraphQLDateTime.serialize(value);
    return date instanceof Date ? date.toISOString() : date;
  },
});
