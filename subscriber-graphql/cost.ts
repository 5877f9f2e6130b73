/**
 * The cost limit: what one operation may ask the database for, estimated before it runs, with
 * graphql-query-complexity. Every field costs 1; a page costs its size (`first`/`last`, 50 by
 * default) times what each of its rows asks for; a datum's `annotations` count as 5 rows each.
 * So `data(first: 1000)` with a few fields passes, while the same page with annotations of
 * annotations of its rows is refused before any SQL runs, with the cost and the limit.
 *
 * The validation rules in limits.ts still bound the query text itself (depth, number of fields).
 */
import type { ApolloServerPlugin } from '@apollo/server';
import {
  type DocumentNode,
  GraphQLError,
  getNamedType,
  getNullableType,
  isListType,
  Kind,
} from 'graphql';
import { type ComplexityEstimator, getComplexity } from 'graphql-query-complexity';
import { DEFAULT_PAGE_SIZE } from '../common/keyset.js';

export const MAX_COST = 100_000;
/** Rows assumed for a list with no size argument, such as a datum's annotations. */
const UNBOUNDED_LIST_ROWS = 5;

const estimator: ComplexityEstimator = ({ field, args, childComplexity }) => {
  const size = args.first ?? args.last;
  if (typeof size === 'number') return 1 + Math.max(size, 0) * childComplexity;
  if (field.name === 'data' && getNamedType(field.type).name === 'DataConnection') {
    return 1 + DEFAULT_PAGE_SIZE * childComplexity;
  }
  // Lists of rows without a size (annotations); introspection lists stay at 1×.
  const isRowList =
    isListType(getNullableType(field.type)) && !getNamedType(field.type).name.startsWith('__');
  if (isRowList && field.name === 'annotations') return 1 + UNBOUNDED_LIST_ROWS * childComplexity;
  return 1 + childComplexity;
};

/** Whether any operation of `document` declares variables (its cost may then depend on them). */
function declaresVariables(document: DocumentNode): boolean {
  return document.definitions.some(
    (d) => d.kind === Kind.OPERATION_DEFINITION && (d.variableDefinitions?.length ?? 0) > 0,
  );
}

export function costLimit(max = MAX_COST): ApolloServerPlugin {
  // Apollo keeps one parsed document per query text: the cost of one without variables is
  // computed once per operation, not on every request.
  const known = new WeakMap<DocumentNode, Map<string, number>>();
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document, schema }) {
          const operation = request.operationName ?? '';
          const fixed = declaresVariables(document) ? undefined : known.get(document);
          let cost = fixed?.get(operation);
          if (cost === undefined) {
            try {
              cost = getComplexity({
                schema,
                query: document,
                variables: request.variables ?? {},
                operationName: request.operationName ?? undefined,
                estimators: [estimator],
              });
            } catch {
              // Variables that do not fit their types: execution reports them, as BAD_USER_INPUT.
              return;
            }
            if (!declaresVariables(document)) {
              const costs = known.get(document) ?? new Map<string, number>();
              costs.set(operation, cost);
              known.set(document, costs);
            }
          }
          if (cost > max) {
            throw new GraphQLError(
              `The query costs ${cost}, over the limit of ${max}: ask for smaller pages ` +
                '(first/last) or fewer nested fields, or split it into several queries.',
              { extensions: { code: 'QUERY_TOO_COSTLY', cost, limit: max, http: { status: 400 } } },
            );
          }
        },
      };
    },
  };
}
