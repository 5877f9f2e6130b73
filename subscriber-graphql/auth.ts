/**
 * Password hashing (scrypt, from node:crypto) and JWT signing/verification. The algorithm is pinned
 * to HS256 on both sides, so a token with `alg: none` or another algorithm is rejected.
 */
import {
  createSecretKey,
  type KeyObject,
  randomBytes,
  scrypt as scryptCb,
  timingSafeEqual,
} from 'node:crypto';
import jwt from 'jsonwebtoken';
import { unauthenticated } from '../common/errors.js';
import type { Role } from './db.js';

// N = 2^15 with r = 8 takes about 50 ms and 32 MiB: slow for guessing, fine for a login.
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, keylen: 32 };

/**
 * scrypt on libuv's thread pool. How many run at once is bounded where logins arrive: the login
 * throttle (services/login-throttle.ts) hashes at most two at a time, addresses served in turn.
 */
function scrypt(
  password: string,
  salt: Buffer,
  N: number,
  r: number,
  p: number,
  keylen: number,
): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    scryptCb(password, salt, keylen, { N, r, p, maxmem: 128 * N * r * 2 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const { N, r, p, keylen } = SCRYPT;
  const key = await scrypt(password, salt, N, r, p, keylen);
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const key = await scrypt(
    password,
    Buffer.from(salt, 'base64'),
    Number(n),
    Number(r),
    Number(p),
    expected.length,
  );
  return timingSafeEqual(key, expected);
}

/** A hash to compare against when the user does not exist, so timing does not reveal usernames. */
export const DUMMY_HASH = `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=`;

const ALGORITHM = 'HS256';
const ISSUER = 'the-collector';
const AUDIENCE = 'collector-graphql';

export interface TokenConfig {
  secret: string;
  ttlSeconds: number;
}

export interface AuthUser {
  id: string;
  username: string;
  role: Role;
}

/** A user as of a login: the session version goes into the token, as `sv`. */
export interface SessionUser extends AuthUser {
  sessionVersion: number;
}

/**
 * What a verified token proves: who (`sub`, the app_user id) and which of their sessions (`sv`).
 * Whether that session is still current is for services/sessions.ts to say, against the database.
 */
export interface TokenClaims {
  id: string;
  sessionVersion: number;
  /** `exp`, in seconds since the epoch. */
  expiresAt: number;
}

export function signToken(user: SessionUser, cfg: TokenConfig): string {
  // username and role are informative only: the gateway reads both from the database.
  const claims = { username: user.username, role: user.role, sv: user.sessionVersion };
  return jwt.sign(claims, secretKey(cfg.secret), {
    algorithm: ALGORITHM,
    subject: user.id,
    issuer: ISSUER,
    audience: AUDIENCE,
    expiresIn: cfg.ttlSeconds,
  });
}

/**
 * The HMAC key as a KeyObject, made once per secret: given a string, jsonwebtoken 9 first tries
 * `crypto.createPublicKey` on every call and falls back through an exception, the single largest
 * cost of a request in a profile of the gateway.
 */
const keys = new Map<string, KeyObject>();
function secretKey(secret: string): KeyObject {
  let key = keys.get(secret);
  if (!key) {
    key = createSecretKey(Buffer.from(secret, 'utf8'));
    keys.set(secret, key);
  }
  return key;
}

const LOG_IN_AGAIN = 'Log in again (mutation login or POST /login) and send the new token.';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Tokens already verified, until they expire: the same token string verifies the same way until
 * then, and a client sends its token on every request (the signature check was about a tenth of
 * the gateway's work on a trivial query). The user's current state is still checked on every
 * request (services/sessions.ts).
 */
const verified = new Map<string, { cfg: TokenConfig; claims: TokenClaims; expiresMs: number }>();
const MAX_VERIFIED = 10_000;

export function verifyToken(token: string, cfg: TokenConfig): TokenClaims {
  const hit = verified.get(token);
  if (hit && hit.cfg === cfg && hit.expiresMs > Date.now()) return hit.claims;
  if (hit) verified.delete(token);
  const claims = verifySignedToken(token, cfg);
  if (verified.size >= MAX_VERIFIED) verified.delete(verified.keys().next().value as string);
  verified.set(token, { cfg, claims, expiresMs: claims.expiresAt * 1000 });
  return claims;
}

function verifySignedToken(token: string, cfg: TokenConfig): TokenClaims {
  let payload: jwt.JwtPayload | string;
  try {
    payload = jwt.verify(token, secretKey(cfg.secret), {
      algorithms: [ALGORITHM],
      issuer: ISSUER,
      audience: AUDIENCE,
    });
  } catch (e) {
    if (e instanceof jwt.TokenExpiredError) {
      throw unauthenticated(`Token expired at ${e.expiredAt.toISOString()}. ${LOG_IN_AGAIN}`);
    }
    throw unauthenticated(`Invalid token: ${(e as Error).message}. ${LOG_IN_AGAIN}`);
  }
  if (typeof payload === 'string' || !payload.sub || !UUID_RE.test(payload.sub)) {
    throw unauthenticated(`Invalid token: missing subject. ${LOG_IN_AGAIN}`);
  }
  // jsonwebtoken checks exp only when present: a token signed without one would never expire.
  if (typeof payload.exp !== 'number') {
    throw unauthenticated(`Invalid token: it has no expiry (exp). ${LOG_IN_AGAIN}`);
  }
  // Tokens issued before sessions could end carry no version: nothing could ever revoke them.
  const sv: unknown = payload.sv;
  if (typeof sv !== 'number' || !Number.isSafeInteger(sv)) {
    throw unauthenticated(`Invalid token: it has no session version (sv). ${LOG_IN_AGAIN}`);
  }
  return { id: payload.sub.toLowerCase(), sessionVersion: sv, expiresAt: payload.exp };
}

/**
 * Reads `Authorization: Bearer <token>` (or `Token <token>`, as the original Django API used).
 * Returns undefined when there is no header.
 */
export function tokenFromHeader(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^(Bearer|Token)\s+(\S+)\s*$/i.exec(header);
  if (!m?.[2]) {
    throw unauthenticated(
      'Malformed Authorization header: expected "Authorization: Bearer <token>".',
    );
  }
  return m[2];
}
