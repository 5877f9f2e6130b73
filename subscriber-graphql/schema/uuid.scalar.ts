/**
 * The `UUID` scalar: graphql-scalars' GraphQLUUID (same name, description and inputs), with a
 * fast path for output. Every id the gateway serves comes from a PostgreSQL `uuid` column, in its
 * canonical lower-case form: checked with one plain pattern instead of the library's validation,
 * which ran on every id of every row of a page.
 */
import { GraphQLScalarType } from 'graphql';
import { GraphQLUUID } from 'graphql-scalars';

const CANONICAL = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const UUIDScalar = new GraphQLScalarType({
  ...GraphQLUUID.toConfig(),
  serialize(value) {
    if (typeof value === 'string' && CANONICAL.test(value)) return value;
    return GraphQLUUID.serialize(value);
  },
});
