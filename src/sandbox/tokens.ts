/**
 * Access and refresh tokens of the sandbox.
 *
 * Access tokens are JWT-shaped (header.payload.signature, base64url) with the claims
 * Cakemail puts in its own: iss "urn:cakemail", sub, accounts, exp. Real Cakemail signs
 * them with RS256; the sandbox signs with HMAC-SHA256 and a secret drawn once per process,
 * so a restarted sandbox rejects old tokens exactly like a key rotation would (401), and a
 * client can never verify them locally (it must not try: it should trust `expires_in`).
 *
 * Refresh tokens are opaque random strings kept in memory, so they can never be used as
 * access tokens (Cakemail: "Refresh tokens cannot be used as access tokens").
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

const SECRET = randomBytes(32);
export const ISSUER = 'urn:cakemail';
const HEADER = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
/** Bounded maps: a benchmark logging in thousands of times must not grow memory forever. */
const MAX_REFRESH_TOKENS = 100_000;
const MAX_VERIFIED_CACHE = 5_000;

export interface AccessClaims {
  readonly iss: string;
  readonly sub: string;
  readonly accounts: readonly number[];
  readonly scopes: string;
  readonly iat: number;
  readonly exp: number;
  readonly jti: string;
}

export interface TokenPair {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
  refresh_token: string;
  accounts: number[];
}

export type VerifyResult = { ok: true; claims: AccessClaims } | { ok: false; reason: 'invalid' | 'expired' };

interface RefreshRecord {
  readonly username: string;
  readonly accounts: readonly number[];
  readonly scopes: string;
  readonly ttlSeconds: number;
  readonly expiresAtMs: number;
}

function base64url(s: string | Buffer): string {
  return Buffer.from(s).toString('base64url');
}

function sign(input: string): Buffer {
  return createHmac('sha256', SECRET).update(input).digest();
}

export class TokenService {
  readonly #refresh = new Map<string, RefreshRecord>();
  /** token → claims, so the hot path (one POST /v2/emails per recipient) skips HMAC + JSON.parse. */
  readonly #verified = new Map<string, AccessClaims>();
  readonly #refreshTtlSeconds: number;

  constructor(opts: { refreshTtlSeconds: number }) {
    this.#refreshTtlSeconds = opts.refreshTtlSeconds;
  }

  issue(username: string, accounts: readonly number[], scopes: string, ttlSeconds: number): TokenPair {
    const iat = Math.floor(Date.now() / 1000);
    const claims: AccessClaims = {
      iss: ISSUER,
      sub: username,
      accounts,
      scopes,
      iat,
      exp: iat + ttlSeconds,
      jti: randomUUID(),
    };
    const body = `${HEADER}.${base64url(JSON.stringify(claims))}`;
    const access = `${body}.${base64url(sign(body))}`;
    const refresh = randomBytes(32).toString('base64url');
    if (this.#refresh.size >= MAX_REFRESH_TOKENS) {
      const oldest = this.#refresh.keys().next();
      if (!oldest.done) this.#refresh.delete(oldest.value);
    }
    this.#refresh.set(refresh, {
      username,
      accounts,
      scopes,
      ttlSeconds,
      expiresAtMs: Date.now() + this.#refreshTtlSeconds * 1000,
    });
    return {
      access_token: access,
      token_type: 'bearer',
      expires_in: ttlSeconds,
      refresh_token: refresh,
      accounts: [...accounts],
    };
  }

  /** A new pair for a valid refresh token (the old one stays valid until it expires), else null. */
  refresh(refreshToken: string): TokenPair | null {
    const rec = this.#refresh.get(refreshToken);
    if (rec === undefined) return null;
    if (Date.now() >= rec.expiresAtMs) {
      this.#refresh.delete(refreshToken);
      return null;
    }
    return this.issue(rec.username, rec.accounts, rec.scopes, rec.ttlSeconds);
  }

  verify(token: string): VerifyResult {
    let claims = this.#verified.get(token);
    if (claims === undefined) {
      const parsed = parseAndCheck(token);
      if (parsed === null) return { ok: false, reason: 'invalid' };
      claims = parsed;
      if (this.#verified.size >= MAX_VERIFIED_CACHE) this.#verified.clear();
      this.#verified.set(token, claims);
    }
    // Millisecond comparison so a token issued with a 1-second lifetime expires promptly.
    if (Date.now() >= claims.exp * 1000) {
      this.#verified.delete(token);
      return { ok: false, reason: 'expired' };
    }
    return { ok: true, claims };
  }
}

function parseAndCheck(token: string): AccessClaims | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const [h, p, s] = parts as [string, string, string];
  if (h !== HEADER) return null;
  const expected = sign(`${h}.${p}`);
  const given = Buffer.from(s, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    const c = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Partial<AccessClaims>;
    if (
      c.iss !== ISSUER ||
      typeof c.sub !== 'string' ||
      typeof c.exp !== 'number' ||
      !Array.isArray(c.accounts)
    ) {
      return null;
    }
    return c as AccessClaims;
  } catch {
    return null;
  }
}

/** Decodes a JWT payload without checking it (for tests and debugging only). */
export function decodeJwtPayload(token: string): Record<string, unknown> {
  const p = token.split('.')[1];
  if (p === undefined) throw new Error('not a JWT');
  return JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
}
