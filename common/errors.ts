/**
 * Errors that carry a code. Services throw `AppError`; each transport maps it once: REST to an
 * HTTP status plus `{ "error": { "code", "message" } }`, GraphQL to `extensions.code` (and the HTTP
 * status through `extensions.http`). Database errors become `AppError`s here and nowhere else.
 */

export type ErrorCode =
  | 'BAD_USER_INPUT'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'TOO_LARGE_TO_SERVE'
  | 'TOO_MANY_REQUESTS'
  | 'SERVICE_UNAVAILABLE'
  | 'GATEWAY_TIMEOUT'
  | 'INTERNAL_SERVER_ERROR';

export const HTTP_STATUS: Record<ErrorCode, number> = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  // A stored value that cannot be written out as JSON text (see collector_json_servable).
  TOO_LARGE_TO_SERVE: 422,
  TOO_MANY_REQUESTS: 429,
  SERVICE_UNAVAILABLE: 503,
  GATEWAY_TIMEOUT: 504,
  INTERNAL_SERVER_ERROR: 500,
};

export class AppError extends Error {
  constructor(
    public readonly code: ErrorCode,
    message: string,
    /** Sent as the Retry-After header (REST and GraphQL), for TOO_MANY_REQUESTS. */
    public readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'AppError';
  }

  get status(): number {
    return HTTP_STATUS[this.code];
  }
}

/** A well-signed token whose user was deleted or disabled, logged out, or changed password since. */
export const TOKEN_NO_LONGER_VALID =
  'Token no longer valid: sign in again (its user logged out, changed password, or was disabled or deleted).';

export const badInput = (message: string) => new AppError('BAD_USER_INPUT', message);
export const notFound = (message: string) => new AppError('NOT_FOUND', message);
export const unauthenticated = (message: string) => new AppError('UNAUTHENTICATED', message);

interface PgError {
  code?: string;
  message: string;
  detail?: string;
  constraint?: string;
}

function isPgError(e: unknown): e is PgError {
  return (
    e instanceof Error &&
    typeof (e as PgError).code === 'string' &&
    /^[0-9A-Z]{5}$/.test((e as PgError).code ?? '')
  );
}

/** Connection-level failures: the database is down or unreachable, not the caller's fault. */
const UNAVAILABLE_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EPIPE',
]);
// node-postgres reports these without a code: pool timeouts and connections cut mid-query.
const UNAVAILABLE_MESSAGES =
  /timeout exceeded when trying to connect|Connection terminated|connection timeout|Client has encountered a connection error/i;

const unavailable = () =>
  new AppError('SERVICE_UNAVAILABLE', 'The database is unavailable; try again shortly');

/** Foreign keys whose violation means something more precise than "row not found". */
const CONSTRAINT_ERRORS: Record<string, () => AppError> = {
  // A valid token for a user deleted since it was issued (and since the gateway last checked).
  annotation_author_id_fkey: () => unauthenticated(TOKEN_NO_LONGER_VALID),
  annotation_data_id_fkey: () =>
    notFound('No such datum. If it was just stored on a publisher, retry in a moment.'),
};

/**
 * Maps anything thrown below a service to an `AppError`, or returns undefined for a real bug (the
 * transport then answers 500 and logs it).
 */
export function toAppError(e: unknown): AppError | undefined {
  if (e instanceof AppError) return e;
  // Node's socket errors first: some (EPIPE) look like five-character SQLSTATEs.
  const nodeCode = (e as { code?: unknown } | null)?.code;
  if (typeof nodeCode === 'string' && UNAVAILABLE_NODE_CODES.has(nodeCode)) return unavailable();
  if (isPgError(e)) {
    const code = e.code ?? '';
    const byConstraint = e.constraint ? CONSTRAINT_ERRORS[e.constraint] : undefined;
    if (byConstraint) return byConstraint();
    if (code === '23503') return notFound('A referenced row does not exist');
    if (code === '23505') return new AppError('CONFLICT', 'That already exists');
    // 57014 query_canceled: our statement_timeout expired (nothing else here cancels queries).
    if (code === '57014') {
      return new AppError(
        'GATEWAY_TIMEOUT',
        'The database did not finish in time (statement timeout, COLLECTOR_STATEMENT_TIMEOUT) and ' +
          'the statement was cancelled: nothing was changed. Retry later, or ask for less at once.',
      );
    }
    // 42601 syntax_error can only come from a client's jsonpath text (our SQL is static): quote it.
    if (code === '42601' && /jsonpath/.test(e.message)) {
      return badInput(`Invalid jsonpath: ${e.message}`);
    }
    // 54001 statement_too_complex / stack depth: JSON nested too deep for the server's parser.
    if (code === '54001') return badInput(`Value too deeply nested: ${e.message}`);
    // Class 22 is "data exception": invalid text for a type, a NUL in JSON text (22P05), etc.
    if (code.startsWith('22')) return badInput(`Invalid value: ${e.message}`);
    // Class 08 connection exceptions, 53 insufficient resources (too many connections),
    // 57P0x shutdown: the database is unavailable for now.
    if (code.startsWith('08') || code.startsWith('53') || code.startsWith('57P')) {
      return unavailable();
    }
    return undefined;
  }
  if (e instanceof Error && UNAVAILABLE_MESSAGES.test(e.message)) return unavailable();
  return undefined;
}
