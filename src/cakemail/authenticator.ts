/**
 * SMTP AUTH against Cakemail's /token, and the access tokens delivery needs afterwards.
 *
 * - Sessions are cached in memory under credentialKey = HMAC(per-pod key, username,
 *   password): tokens + accounts. The password itself is never kept.
 * - A cached session answers AUTH while the password was verified less than
 *   AUTH_CACHE_TTL_MAX ago and the access token is not due for renewal; after that the
 *   next AUTH asks /token again. Bounded LRU (AUTH_CACHE_SIZE).
 * - Wrong passwords and MFA answers are remembered for AUTH_NEGATIVE_CACHE_TTL, so a
 *   retrying client does not hammer /token (and an MFA account is not sent a code per try).
 * - Concurrent AUTHs of the same credentials share one /token call (single flight).
 * - Delivery asks `withToken(credentialKey, fn)`: an access token due for renewal, or one
 *   the API refused with 401, is renewed with the REFRESH token (single flight per
 *   session); if the refresh token is refused the session is dropped and the caller gets
 *   `session_expired` (→ 451 upstreamSessionExpired: reconnect and AUTH again).
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { AuthenticatedAccount, Authenticator, SessionContext } from '../smtp/contracts.ts';
import { SmtpReplyError } from '../smtp/replies.ts';
import { cakemailApiRetriesTotal, cakemailTokenCacheTotal } from '../metrics/worker-metrics.ts';
import type { CakemailClient } from './client.ts';
import { CakemailError, isCakemailError } from './errors.ts';
import { LruTtlCache, credentialKey } from './token-cache.ts';
import type { TokenResponse } from './types.ts';

export interface AuthenticatorOptions {
  client: CakemailClient;
  /** Per-pod secret for credential keys; lives only in memory. */
  secret: Buffer;
  /** AUTH_CACHE_TTL_MAX, seconds. */
  cacheTtlMaxSeconds: number;
  /** AUTH_NEGATIVE_CACHE_TTL, seconds (0 = off). */
  negativeTtlSeconds: number;
  /** AUTH_CACHE_SIZE. */
  cacheSize: number;
  /** How long an unused session (tokens) is kept for delivery; default max(cacheTtlMax, 3600) s. */
  sessionIdleSeconds?: number;
  log: Logger;
  now?: () => number;
}

interface Session {
  readonly username: string;
  accessToken: string;
  refreshToken: string;
  accounts: number[];
  /** When the password was last verified by /token (AUTH freshness). */
  readonly verifiedAt: number;
  /** From here the access token is renewed before use. */
  renewAt: number;
  /** The access token's own end. */
  expiresAt: number;
  renewing: Promise<string> | null;
}

type NegativeReason = 'credentials' | 'mfa';

export class CakemailAuthenticator implements Authenticator {
  readonly #client: CakemailClient;
  readonly #secret: KeyObject;
  readonly #ttlMaxMs: number;
  readonly #negativeTtlMs: number;
  readonly #idleMs: number;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #sessions: LruTtlCache<Session>;
  readonly #negative: LruTtlCache<NegativeReason>;
  readonly #inflight = new Map<string, Promise<Session>>();

  constructor(o: AuthenticatorOptions) {
    this.#client = o.client;
    this.#secret = createSecretKey(o.secret);
    this.#ttlMaxMs = o.cacheTtlMaxSeconds * 1000;
    this.#negativeTtlMs = o.negativeTtlSeconds * 1000;
    this.#idleMs = (o.sessionIdleSeconds ?? Math.max(o.cacheTtlMaxSeconds, 3600)) * 1000;
    this.#now = o.now ?? Date.now;
    this.#log = o.log;
    this.#sessions = new LruTtlCache(o.cacheSize, this.#now);
    this.#negative = new LruTtlCache(o.cacheSize, this.#now);
  }

  async authenticate(username: string, password: string, ctx: SessionContext): Promise<AuthenticatedAccount> {
    if (!username || !password) throw this.#refuse('credentials');
    const key = credentialKey(this.#secret, username, password);

    const negative = this.#negative.get(key);
    if (negative) {
      cakemailTokenCacheTotal.inc({ result: 'negative_hit' });
      throw this.#refuse(negative);
    }
    const cached = this.#sessions.get(key);
    const now = this.#now();
    if (cached && now < cached.verifiedAt + this.#ttlMaxMs && now < cached.renewAt) {
      cakemailTokenCacheTotal.inc({ result: 'hit' });
      this.#sessions.touch(key, this.#idleMs);
      return account(key, cached);
    }

    let flight = this.#inflight.get(key);
    // Joining a call in flight costs no /token call of its own: counted as a hit.
    cakemailTokenCacheTotal.inc({ result: flight ? 'hit' : 'miss' });
    if (!flight) {
      flight = this.#login(key, username, password).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, flight);
    }
    try {
      return account(key, await flight);
    } catch (err) {
      if (isCakemailError(err) && (err.kind === 'credentials' || err.kind === 'mfa'))
        throw this.#refuse(err.kind);
      if (!isCakemailError(err)) throw err;
      ctx.log.warn({ kind: err.kind, status: err.status }, 'Cakemail /token unavailable for AUTH');
      throw new SmtpReplyError('authUnavailable');
    }
  }

  /**
   * Runs `fn` with a valid access token of the session. A 401 from `fn` renews the token
   * with the refresh token once and runs `fn` once more; a second 401 is final.
   */
  async withToken<T>(key: string, fn: (accessToken: string) => Promise<T>): Promise<T> {
    const token = await this.accessToken(key);
    try {
      return await fn(token);
    } catch (err) {
      if (!(isCakemailError(err) && err.kind === 'session_expired' && err.endpoint !== 'token')) throw err;
      const fresh = await this.renew(key, token);
      cakemailApiRetriesTotal.inc({ endpoint: err.endpoint, reason: 'session_expired' });
      return fn(fresh);
    }
  }

  /** A usable access token; renewed first when due. Throws CakemailError. */
  async accessToken(key: string): Promise<string> {
    const s = this.#session(key);
    this.#sessions.touch(key, this.#idleMs);
    if (this.#now() < s.renewAt) return s.accessToken;
    try {
      return await this.#renew(key, s, s.accessToken);
    } catch (err) {
      // Renewal is early on purpose: while the old token has not actually expired, an API
      // hiccup during renewal does not need to fail the mail.
      const stillValid = this.#now() < s.expiresAt - 5_000 && this.#sessions.get(key) === s;
      if (stillValid && isCakemailError(err) && err.kind !== 'session_expired') return s.accessToken;
      throw err;
    }
  }

  /** After the API refused `staleToken` (401): a new access token, from the refresh token. */
  async renew(key: string, staleToken: string): Promise<string> {
    return this.#renew(key, this.#session(key), staleToken);
  }

  /** Accounts of a live session (for tests and status pages). */
  hasSession(key: string): boolean {
    return this.#sessions.get(key) !== undefined;
  }

  #session(key: string): Session {
    const s = this.#sessions.get(key);
    if (!s)
      throw new CakemailError('session_expired', 'token', 0, 'session no longer cached; authenticate again');
    return s;
  }

  #renew(key: string, s: Session, staleToken: string): Promise<string> {
    // Someone renewed it since the caller read it: use theirs.
    if (s.accessToken !== staleToken && this.#now() < s.renewAt) return Promise.resolve(s.accessToken);
    if (s.renewing) return s.renewing;
    s.renewing = this.#client
      .refreshGrant(s.refreshToken)
      .then((t) => {
        const now = this.#now();
        s.accessToken = t.access_token;
        // Refresh answers carry a refresh token (rotation); keep the old one if absent.
        if (typeof t.refresh_token === 'string' && t.refresh_token) s.refreshToken = t.refresh_token;
        s.accounts = [...t.accounts];
        s.renewAt = renewAt(now, t.expires_in);
        s.expiresAt = now + t.expires_in * 1000;
        return s.accessToken;
      })
      .catch((err: unknown) => {
        if (isCakemailError(err) && err.kind === 'session_expired') {
          this.#log.info({ status: err.status }, 'Cakemail refresh token refused; session dropped');
          if (this.#sessions.get(key) === s) this.#sessions.delete(key);
        }
        throw err;
      })
      .finally(() => {
        s.renewing = null;
      });
    return s.renewing;
  }

  async #login(key: string, username: string, password: string): Promise<Session> {
    let t: TokenResponse;
    try {
      t = await this.#client.passwordGrant(username, password);
    } catch (err) {
      if (isCakemailError(err) && (err.kind === 'credentials' || err.kind === 'mfa')) {
        this.#negative.set(key, err.kind, this.#negativeTtlMs);
        this.#sessions.delete(key);
      }
      throw err;
    }
    const now = this.#now();
    const s: Session = {
      username,
      accessToken: t.access_token,
      refreshToken: t.refresh_token,
      accounts: [...t.accounts],
      verifiedAt: now,
      renewAt: renewAt(now, t.expires_in),
      expiresAt: now + t.expires_in * 1000,
      renewing: null,
    };
    this.#sessions.set(key, s, this.#idleMs);
    return s;
  }

  // smtp_auth_failures_total{reason} is counted by the SMTP session (session-hooks.ts)
  // from the reply key, once per AUTH: not here, or it would count twice.
  #refuse(reason: NegativeReason): SmtpReplyError {
    return new SmtpReplyError(reason === 'mfa' ? 'authMfa' : 'authInvalid');
  }
}

/**
 * When to renew a token valid for `expiresIn` seconds: a margin of 60 s, or 20 % of the
 * lifetime when that is shorter (short-lived tokens would otherwise be born stale).
 */
export function renewAt(now: number, expiresIn: number): number {
  const life = Math.max(0, expiresIn) * 1000;
  return now + life - Math.min(60_000, life * 0.2);
}

function account(key: string, s: Session): AuthenticatedAccount {
  return { username: s.username, credentialKey: key, accounts: [...s.accounts] };
}
