/**
 * Validation rules that bound what one request can ask for. `Datum.annotations` and
 * `Annotation.datum` form a cycle, and aliases repeat fields: without limits one small request
 * could fan out into a huge response. Introspection (`__schema`, `__type`) is not counted, so
 * Apollo Sandbox keeps working.
 */
import {
  type ASTVisitor,
  type FragmentDefinitionNode,
  GraphQLError,
  Kind,
  type SelectionSetNode,
  type ValidationContext,
} from 'graphql';

export const MAX_DEPTH = 12;
export const MAX_FIELDS = 500;

interface Measure {
  depth: number;
  fields: number;
}

function measure(
  set: SelectionSetNode,
  fragments: (name: string) => FragmentDefinitionNode | null | undefined,
  seen: Set<string>,
): Measure {
  let depth = 0;
  let fields = 0;
  for (const sel of set.selections) {
    let inner: Measure = { depth: 0, fields: 0 };
    if (sel.kind === Kind.FIELD) {
      if (sel.name.value.startsWith('__')) continue;
      inner = sel.selectionSet ? measure(sel.selectionSet, fragments, seen) : inner;
      inner = { depth: inner.depth + 1, fields: inner.fields + 1 };
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      inner = measure(sel.selectionSet, fragments, seen);
    } else {
      const name = sel.name.value;
      const fragment = fragments(name);
      // A cycle of fragments is reported by graphql's own NoFragmentCyclesRule.
      if (!fragment || seen.has(name)) continue;
      inner = measure(fragment.selectionSet, fragments, new Set([...seen, name]));
    }
    depth = Math.max(depth, inner.depth);
    fields += inner.fields;
  }
  return { depth, fields };
}

export function queryLimits(context: ValidationContext): ASTVisitor {
  return {
    OperationDefinition(node) {
      const { depth, fields } = measure(
        node.selectionSet,
        (name) => context.getFragment(name),
        new Set(),
      );
      if (depth > MAX_DEPTH) {
        context.reportError(
          new GraphQLError(
            `The query is ${depth} fields deep; the limit is ${MAX_DEPTH}. Fetch nested data in a separate query.`,
            { nodes: [node] },
          ),
        );
      }
      if (fields > MAX_FIELDS) {
        context.reportError(
          new GraphQLError(
            `The query selects ${fields} fields; the limit is ${MAX_FIELDS}. Split it into several queries.`,
            { nodes: [node] },
          ),
        );
      }
    },
  };
}
