import DataLoader from 'dataloader';
import type { GraphQLResolveInfo } from 'graphql';
import { AppError, toAppError } from '../common/errors.js';
import { type AuthUser, type TokenConfig, tokenFromHeader, verifyToken } from './auth.js';
import type { SubscriberDb } from './db.js';
import { selects } from './selection.js';
import { type AnnotationRow, annotationsByDataIds } from './services/annotations.js';
import { type DatumRow, dataByIds } from './services/data.js';
import type { FleetMonitor } from './services/fleet-monitor.js';
import type { LoginThrottle } from './services/login-throttle.js';
import { sessionUser } from './services/sessions.js';

/**
 * Per-request batch loaders: every `annotations` (or `datum`) field on a page resolves with one
 * SQL statement, however many rows the page has.
 */
export interface Loaders {
  annotationsByDataId: DataLoader<string, AnnotationRow[]>;
  datumById: DataLoader<string, DatumRow | null>;
  /**
   * Pages of data this request has read: the loaders answer from them before asking the
   * database. Cheaper than priming each row, which costs two map entries per row of every page
   * while a later `datum(id)` or `Annotation.datum` in the same request is rare.
   */
  pages: DatumRow[][];
}

export interface Context {
  db: SubscriberDb;
  tokens: TokenConfig;
  /** The client's address and the gateway's login throttle (for `login`). */
  address: string;
  throttle: LoginThrottle;
  /** The fleet's status, for the `publishers` query (absent: a gateway built without one). */
  monitor?: FleetMonitor;
  user: AuthUser | null;
  /** Why `user` is null when a token was sent but rejected. */
  authError?: string;
  /** The same as an error with its code: UNAUTHENTICATED, or SERVICE_UNAVAILABLE (database down). */
  authFailure?: AppError;
  loaders: Loaders;
}

/**
 * The loaders of one request, each made on first use: most requests use one or none, and a
 * DataLoader (its cache, its batch function) was a fixed cost of every request, `{ __typename }`
 * included.
 */
class RequestLoaders implements Loaders {
  readonly pages: DatumRow[][] = [];
  #annotations?: DataLoader<string, AnnotationRow[]>;
  #data?: DataLoader<string, DatumRow | null>;

  constructor(private readonly db: SubscriberDb) {}

  /** The rows of this request's pages, by id. */
  private known(): Map<string, DatumRow> {
    const byId = new Map<string, DatumRow>();
    for (const page of this.pages) for (const row of page) byId.set(row.id, row);
    return byId;
  }

  get annotationsByDataId(): DataLoader<string, AnnotationRow[]> {
    this.#annotations ??= new DataLoader(async (ids) => {
      const seen = this.known();
      const missing = ids.filter((id) => !seen.get(id)?.annotations);
      const byId = missing.length ? await annotationsByDataIds(this.db, missing) : new Map();
      return ids.map((id) => seen.get(id)?.annotations ?? byId.get(id) ?? []);
    });
    return this.#annotations;
  }

  get datumById(): DataLoader<string, DatumRow | null> {
    this.#data ??= new DataLoader(async (ids) => {
      const seen = this.known();
      const missing = ids.filter((id) => !seen.has(id));
      if (missing.length)
        for (const row of await dataByIds(this.db, missing)) seen.set(row.id, row);
      return ids.map((id) => seen.get(id) ?? null);
    });
    return this.#data;
  }
}

export function createLoaders(db: SubscriberDb): Loaders {
  return new RequestLoaders(db);
}

/**
 * The request's context. A token is verified (signature, claims), then its session checked against
 * the user's current state: at most one primary-key lookup per request, none while cached (see
 * services/sessions.ts). Requests without a token cost nothing here.
 */
export async function createContext(
  db: SubscriberDb,
  tokens: TokenConfig,
  authorization: string | undefined,
  client: { address: string; throttle: LoginThrottle; monitor?: FleetMonitor },
): Promise<Context> {
  const ctx: Context = { db, tokens, ...client, user: null, loaders: createLoaders(db) };
  try {
    const token = tokenFromHeader(authorization);
    if (token) ctx.user = await sessionUser(db, verifyToken(token, tokens));
  } catch (e) {
    // Not thrown here: `login` must still work for a client holding an expired token; operations
    // that need a user answer with this error (graphql-errors.ts, authChecker).
    const failure = toAppError(e);
    if (!failure) throw e;
    ctx.authFailure = failure;
    ctx.authError = failure.message;
  }
  return ctx;
}

/**
 * Hangs a datum's annotations on it when the query selects them below this field (batched with
 * the other data of the request): `Datum.annotations` is a plain field, read from the row.
 */
export async function withAnnotations(
  ctx: Context,
  info: GraphQLResolveInfo,
  datum: DatumRow | null,
): Promise<DatumRow | null> {
  if (datum && !datum.annotations && selects(info, ['annotations'])) {
    datum.annotations = await ctx.loaders.annotationsByDataId.load(datum.id);
  }
  return datum;
}
