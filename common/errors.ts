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
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'SERVICE_UNAVAILABLE'
  | 'INTERNAL_SERVER_ERROR';

export const HTTP_STATUS: Record<ErrorCode, number> = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  SERVICE_UNAVAILABLE: 503,
  INTERNAL_SERVER_ERROR: 500,
};

export class AppError extends Error {
  constructor(
    public readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AppError';
  }

  get status(): number {
    return HTTP_STATUS[this.code];
  }
}

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
const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND']);

/**
 * Maps anything thrown below a service to an `AppError`, or returns undefined for a real bug (the
 * transport then answers 500 and logs it).
 */
export function toAppError(e: unknown): AppError | undefined {
  if (e instanceof AppError) return e;
  if (isPgError(e)) {
    const code = e.code ?? '';
    // 23503 foreign_key_violation: an annotation for a datum that is not (yet) here.
    if (code === '23503')
      return notFound(`Referenced row does not exist: ${e.detail ?? e.message}`);
    if (code === '23505') return new AppError('CONFLICT', e.detail ?? e.message);
    // Class 22 is "data exception": invalid text for a type, a NUL in JSON text (22P05), etc.
    if (code.startsWith('22')) return badInput(`Invalid value: ${e.message}`);
    // Class 08 connection exceptions, 57P0x shutdown: the database is unavailable.
    if (code.startsWith('08') || code.startsWith('57P')) {
      return new AppError('SERVICE_UNAVAILABLE', 'The database is unavailable; try again shortly');
    }
    return undefined;
  }
  const nodeCode = (e as { code?: unknown } | null)?.code;
  if (typeof nodeCode === 'string' && UNAVAILABLE_NODE_CODES.has(nodeCode)) {
    return new AppError('SERVICE_UNAVAILABLE', 'The database is unavailable; try again shortly');
  }
  return undefined;
}
