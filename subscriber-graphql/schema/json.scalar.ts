/**
 * The `JSON` scalar, kept exact: graphql-scalars' GraphQLJSON reads number literals with
 * parseFloat, so `annotate(body: {n: 12345678901234567890})` would store 12345678901234567000.
 * Here a literal number JavaScript cannot hold exactly stays as its text (`RawJson`), as numbers in
 * variables do (common/raw-json.ts parses request bodies), and stored JSON is served as its text.
 */
import { GraphQLScalarType, Kind, type ValueNode } from 'graphql';
import { GraphQLJSON } from 'graphql-scalars';
import { jsonNumber } from '../../common/raw-json.js';
import { NotServable, tooLargeToServe } from '../graphql-errors.js';

function fromLiteral(node: ValueNode, variables?: Record<string, unknown> | null): unknown {
  switch (node.kind) {
    case Kind.INT:
    case Kind.FLOAT:
      return jsonNumber(node.value);
    case Kind.STRING:
    case Kind.BOOLEAN:
      return node.value;
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return node.values.map((v) => fromLiteral(v, variables));
    case Kind.OBJECT:
      // Object.fromEntries makes "__proto__" an own key, like JSON.parse.
      return Object.fromEntries(
        node.fields.map((f) => [f.name.value, fromLiteral(f.value, variables)]),
      );
    case Kind.VARIABLE:
      return variables?.[node.name.value];
    default:
      throw new TypeError(`JSON cannot represent an enum value (${node.value}): quote it`);
  }
}

export const JSONScalar = new GraphQLScalarType({
  name: 'JSON',
  description: GraphQLJSON.description,
  specifiedByURL: GraphQLJSON.specifiedByURL,
  // Values pass through; RawJson texts are spliced in by the response serializer (stringifyJson).
  // A value the read guard refused is an error on this field of this row only.
  serialize: (value) => {
    if (value instanceof NotServable) throw tooLargeToServe(value.what);
    return value;
  },
  parseValue: (value) => value,
  parseLiteral: fromLiteral,
});
