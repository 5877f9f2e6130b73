/**
 * Where every error raised under a resolver becomes a GraphQL error with `extensions.code` and,
 * through `extensions.http`, an HTTP status (Apollo strips `http` from the response body).
 */
import { GraphQLError } from 'graphql';
import type { AuthChecker, MiddlewareFn } from 'type-graphql';
import { type AppError, toAppError, unauthenticated } from '../common/errors.js';
import type { Context } from './context.js';

export function toGraphQLError(error: AppError): GraphQLError {
  const http: { status: number; headers?: Map<string, string> } = { status: error.status };
  if (error.retryAfterSeconds !== undefined) {
    http.headers = new Map([['retry-after', String(error.retryAfterSeconds)]]);
  }
  return new GraphQLError(error.message, {
    extensions: { code: error.code, http },
    originalError: error,
  });
}

/** Any error as the GraphQL error the client gets: its code and HTTP status. */
function mapError(e: unknown): GraphQLError {
  if (e instanceof GraphQLError) return e;
  const mapped = toAppError(e);
  if (mapped) return toGraphQLError(mapped);
  // A bug, not the client's fault: HTTP 500 (Apollo would answer 200 with partial data), and
  // formatError logs it and, in production, hides its message.
  return new GraphQLError(e instanceof Error ? e.message : String(e), {
    extensions: { code: 'INTERNAL_SERVER_ERROR', http: { status: 500 } },
    originalError: e instanceof Error ? e : undefined,
  });
}

/**
 * On the root fields (queries and mutations) and the few per-request field resolvers. Not on
 * per-row fields: a middleware makes every call async, one promise per field per row.
 */
export const mapErrors: MiddlewareFn<Context> = async (_data, next) => {
  try {
    return await next();
  } catch (e) {
    throw mapError(e);
  }
};

/**
 * A stored JSON value that cannot be written out safely (numbers like 1e131071, stored before the
 * publishers refused them). An error on that field of that row only: the rest of the page is
 * served, with HTTP 200.
 */
export function tooLargeToServe(what: string): GraphQLError {
  return new GraphQLError(
    `${what} holds numbers that take more than 4 MiB once written out (like 1e131071, ` +
      'written with all its 131,072 digits), so it is not served. Filter it out by id.',
    { extensions: { code: 'TOO_LARGE_TO_SERVE' } },
  );
}

/**
 * Replaces SQL NULL in `rows[i][key]` (a stored JSON value the read guard refused: `case when
 * servable`) with its TOO_LARGE_TO_SERVE error, named by `what(row)`. A field whose value is an
 * Error is that error, on that field of that row (graphql-js and graphql-jit alike): a plain
 * field, with no resolver to run for every row.
 */
export function markNotServable<T, K extends keyof T>(
  rows: T[],
  key: K,
  what: (row: T) => string,
): T[] {
  for (const row of rows) {
    if (row[key] === null) row[key] = tooLargeToServe(what(row)) as T[K];
  }
  return rows;
}

const NO_TOKEN =
  'Not logged in: send "Authorization: Bearer <token>". Get a token with ' +
  'mutation { login(username: "...", password: "...") } or POST /login.';

export const authChecker: AuthChecker<Context> = ({ context }) => {
  if (context.user) return true;
  throw toGraphQLError(context.authFailure ?? unauthenticated(context.authError ?? NO_TOKEN));
};
