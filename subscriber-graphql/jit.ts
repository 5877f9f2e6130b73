/**
 * Execution by graphql-jit behind Apollo Server. Apollo still parses, validates (our limits, the
 * cost plugin), runs its plugins and formats errors; only execution changes. graphql-js walks
 * every field of every row through generic code (argument coercion, type checks, promise checks);
 * graphql-jit compiles each operation once into a function for its selection, and runs that.
 *
 * Apollo Server 5 has no executor option; a "gateway" is how it accepts one. This one serves the
 * schema it was given, and caches compiled operations by Apollo's hash of the query text.
 */
import type {
  GatewayExecutor,
  GatewayInterface,
  GatewayLoadResult,
} from '@apollo/server-gateway-interface';
import {
  type DocumentNode,
  type ExecutionResult,
  execute,
  GraphQLError,
  type GraphQLInputType,
  type GraphQLSchema,
  getNamedType,
  isInputObjectType,
  Kind,
  typeFromAST,
} from 'graphql';
import { type CompiledQuery, compileQuery, isCompiledQuery } from 'graphql-jit';
import { inexactNumbers } from '../common/raw-json.js';

/** Compiled operations kept; past this, the oldest is dropped (a Map keeps insertion order). */
const MAX_COMPILED = 1000;

/** How an operation runs: compiled, or (see below) by graphql-js. */
type Plan = CompiledQuery | 'graphql-js';

/**
 * Compiled where graphql-jit does exactly what graphql-js would; graphql-js otherwise:
 * - graphql-jit 0.8 cannot compile variables of a recursive input type (DataFilter's and/or/not:
 *   its code generator recurses without end), so operations with filter variables fail to
 *   compile, after Apollo has validated them;
 * - it writes literal arguments into the compiled code as JSON text. A JSON literal holding a
 *   number JavaScript cannot hold exactly (12345678901234567890, 1e400) is kept as its text
 *   (RawJson) by the JSON scalar, which that would turn back into a rounded double. Clients
 *   nearly always send such values in variables.
 */
function plan(schema: GraphQLSchema, request: Parameters<GatewayExecutor>[0]): Plan {
  // Not even tried: graphql-jit spends seconds recursing before it gives up on such a type (21 s
  // for one DataFilter variable on a loaded 2-core machine), and blocks the event loop meanwhile.
  if (hasRecursiveVariable(schema, request.document)) return 'graphql-js';
  const before = inexactNumbers;
  let result: CompiledQuery | ExecutionResult;
  executions.compileAttempts++;
  try {
    result = compileQuery(schema, request.document, request.operationName ?? undefined, {
      // Results are written by Apollo's stringifyResult (stored JSON spliced in as its text),
      // not by graphql-jit's own serializer.
      customJSONSerializer: false,
    });
  } catch {
    // A document it cannot compile at all (not only the errors it returns) runs on graphql-js.
    return 'graphql-js';
  }
  return isCompiledQuery(result) && inexactNumbers === before ? result : 'graphql-js';
}

/** Input types by whether a cycle can be reached from them (DataFilter's and/or/not), per schema. */
const recursive = new WeakMap<GraphQLSchema, Map<string, boolean>>();

function isRecursive(type: GraphQLInputType, known: Map<string, boolean>): boolean {
  const root = getNamedType(type);
  if (!isInputObjectType(root)) return false;
  const cached = known.get(root.name);
  if (cached !== undefined) return cached;
  // Depth-first over the input fields: a type met again while still on the path is a cycle.
  const path = new Set<string>();
  const done = new Set<string>();
  const cycles = (t: GraphQLInputType): boolean => {
    const named = getNamedType(t);
    if (!isInputObjectType(named) || done.has(named.name)) return false;
    if (path.has(named.name)) return true;
    path.add(named.name);
    const found = Object.values(named.getFields()).some((f) => cycles(f.type));
    path.delete(named.name);
    done.add(named.name);
    return found;
  };
  const result = cycles(root);
  known.set(root.name, result);
  return result;
}

/** Whether any operation of `document` declares a variable of a recursive input type. */
function hasRecursiveVariable(schema: GraphQLSchema, document: DocumentNode): boolean {
  let known = recursive.get(schema);
  if (!known) {
    known = new Map();
    recursive.set(schema, known);
  }
  for (const def of document.definitions) {
    if (def.kind !== Kind.OPERATION_DEFINITION) continue;
    for (const v of def.variableDefinitions ?? []) {
      const type = typeFromAST(schema, v.type) as GraphQLInputType | undefined;
      if (type && isRecursive(type, known)) return true;
    }
  }
  return false;
}

/**
 * A result without `data` means execution never started: the variables did not fit their types.
 * That is the client's input (400 BAD_USER_INPUT), as Apollo says when graphql-js finds it.
 */
function badVariables(result: ExecutionResult): ExecutionResult {
  if ('data' in result || !result.errors) return result;
  return {
    errors: result.errors.map(
      (e) =>
        new GraphQLError(e.message, {
          originalError: e,
          extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } },
        }),
    ),
  };
}

/** Operations run so far each way, and compilations tried, in this process (for tests). */
export const executions = { compiled: 0, graphqlJs: 0, compileAttempts: 0 };

export function jitExecutor(schema: GraphQLSchema): GatewayExecutor {
  const plans = new Map<string, Plan>();
  return async (request) => {
    const key = `${request.queryHash}\u0000${request.operationName ?? ''}`;
    let how = plans.get(key);
    if (!how) {
      how = plan(schema, request);
      if (plans.size >= MAX_COMPILED) plans.delete(plans.keys().next().value as string);
      plans.set(key, how);
    }
    const variables = request.request.variables ?? {};
    if (how === 'graphql-js') {
      executions.graphqlJs++;
      return execute({
        schema,
        document: request.document,
        operationName: request.operationName,
        contextValue: request.context,
        variableValues: variables,
      });
    }
    executions.compiled++;
    return badVariables(await how.query(undefined, request.context, variables));
  };
}

/** The "gateway" that gives Apollo `schema` and the compiled executor. */
export function jitGateway(schema: GraphQLSchema): GatewayInterface {
  const executor = jitExecutor(schema);
  return {
    onSchemaLoadOrUpdate(callback) {
      callback({ apiSchema: schema, coreSupergraphSdl: '' });
      return () => {};
    },
    async load(): Promise<GatewayLoadResult> {
      return { executor };
    },
    async stop() {},
  };
}
