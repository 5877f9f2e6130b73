/**
 * Validation rules that bound what one request can ask for. `Datum.annotations` and
 * `Annotation.datum` form a cycle, and aliases repeat fields: without limits one small request
 * could fan out into a huge response. Introspection fields (`__schema`, `__type`, `__typename`)
 * count like any other, so 15,000 aliased `__schema` are refused before they run. `ofType` adds no
 * depth: it links one type to one type, no fan-out, and the standard introspection query that IDEs
 * such as Apollo Sandbox send nests it seven levels deep (15 levels in all, 8 without `ofType`).
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

/**
 * Depth and field count of a selection set. Each fragment is measured once (memo), so fragments
 * spreading fragments cannot make validation exponential; a fragment cycle (reported by
 * graphql's NoFragmentCyclesRule) counts as empty here.
 */
function measure(
  set: SelectionSetNode,
  fragment: (name: string) => FragmentDefinitionNode | null | undefined,
  memo: Map<string, Measure | 'visiting'>,
): Measure {
  let depth = 0;
  let fields = 0;
  for (const sel of set.selections) {
    let inner: Measure = { depth: 0, fields: 0 };
    if (sel.kind === Kind.FIELD) {
      inner = sel.selectionSet ? measure(sel.selectionSet, fragment, memo) : inner;
      const adds = sel.name.value === 'ofType' ? 0 : 1;
      inner = { depth: inner.depth + adds, fields: inner.fields + 1 };
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      inner = measure(sel.selectionSet, fragment, memo);
    } else {
      const name = sel.name.value;
      const known = memo.get(name);
      if (known === 'visiting') continue;
      if (known) inner = known;
      else {
        const definition = fragment(name);
        if (!definition) continue;
        memo.set(name, 'visiting');
        inner = measure(definition.selectionSet, fragment, memo);
        memo.set(name, inner);
      }
    }
    depth = Math.max(depth, inner.depth);
    // Saturate: past the limit the exact count does not matter, and it cannot overflow.
    fields = Math.min(fields + inner.fields, MAX_FIELDS + 1);
  }
  return { depth, fields };
}

export function queryLimits(context: ValidationContext): ASTVisitor {
  return {
    OperationDefinition(node) {
      const { depth, fields } = measure(
        node.selectionSet,
        (name) => context.getFragment(name),
        new Map(),
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
            `The query selects more than ${MAX_FIELDS} fields. Split it into several queries.`,
            { nodes: [node] },
          ),
        );
      }
    },
  };
}
