/**
 * Who may call a publisher route: the `Authorization: Bearer <key>` header against the route's
 * scope, in the configured mode (COLLECTOR_PUBLISHER_AUTH).
 *
 * - `required`: every route with a scope needs a valid key holding that scope.
 * - `optional` (the default outside production, so that the original project's curl works on
 *   `npm start`): a request without Authorization may do anything, but a key that is sent is
 *   still checked, scope included, so a client can test its key before production.
 *
 * Routes without a scope (`/health`, `/`) are always open.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../common/errors.js';
import { type ApiKeyVerifier, isWellFormedKey, type Scope } from './api-keys.js';

export const AUTH_MODES = ['required', 'optional'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What a key must allow to call this route; routes without one are open. */
    scope?: Scope;
  }
}

const HOW_TO_GET_ONE =
  'An operator creates one with: collector publisher-keys create <client-name> ' +
  '(add --read for GET /data).';

const WHAT: Record<Scope, string> = { insert: 'store data (POST /data)', read: 'read data' };
/** How to get a key that has the scope. */
const WITH_SCOPE: Record<Scope, string> = {
  insert: 'collector publisher-keys create <name>',
  read: 'collector publisher-keys create <name> --read',
};

function unauthenticated(message: string): AppError {
  return new AppError('UNAUTHENTICATED', message);
}

/** The key of an `Authorization: Bearer <key>` header; undefined when there is no header. */
function bearerKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header);
  if (!m?.[1]) {
    throw unauthenticated(`The Authorization header must be "Bearer <API key>". ${HOW_TO_GET_ONE}`);
  }
  return m[1];
}

function checkScope(scopes: readonly Scope[] | undefined, scope: Scope): void {
  if (!scopes) throw unauthenticated(`This API key is unknown or revoked. ${HOW_TO_GET_ONE}`);
  if (!scopes.includes(scope)) {
    throw new AppError(
      'FORBIDDEN',
      `This API key may not ${WHAT[scope]}: its scopes are ${scopes.join(', ')}. ` +
        `Use a key with the "${scope}" scope (${WITH_SCOPE[scope]}).`,
    );
  }
}

/**
 * Checks each request before its body is read. A key verified within the cache TTL is checked
 * synchronously (no promise, no query): POST /data is the hot path.
 */
export function registerAuth(app: FastifyInstance, mode: AuthMode, verifier: ApiKeyVerifier): void {
  app.addHook('onRequest', (request: FastifyRequest, reply, done) => {
    const scope = request.routeOptions.config.scope;
    if (!scope) return done();
    let key: string | undefined;
    try {
      key = bearerKey(request.headers.authorization);
      if (key === undefined) {
        if (mode === 'optional') return done();
        throw unauthenticated(
          `This publisher requires an API key: send the header "Authorization: Bearer <key>". ${HOW_TO_GET_ONE}`,
        );
      }
      if (!isWellFormedKey(key)) {
        throw unauthenticated(
          `This is not a publisher API key (they look like cpk_ and 43 more characters). ${HOW_TO_GET_ONE}`,
        );
      }
      const scopes = verifier.verify(key);
      if (!(scopes instanceof Promise)) {
        checkScope(scopes, scope);
        return done();
      }
      scopes.then(
        (s) => {
          try {
            checkScope(s, scope);
            done();
          } catch (e) {
            fail(e as Error);
          }
        },
        (e: Error) => done(e),
      );
    } catch (e) {
      fail(e as Error);
    }
    function fail(e: Error) {
      if (e instanceof AppError && e.code === 'UNAUTHENTICATED') {
        reply.header('www-authenticate', 'Bearer realm="collector-publisher"');
      }
      done(e);
    }
  });
}
