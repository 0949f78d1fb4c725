/**
 * POST /token: the password and refresh_token grants of Cakemail's OAuth2 endpoint,
 * with its answers: TokenResponse, a `challenge` for MFA users, FastAPI-shaped errors.
 */
import { randomBytes } from 'node:crypto';
import { errorReply, json, type Reply } from './http-util.ts';
import type { Validators } from './schema-validator.ts';
import type { TokenService } from './tokens.ts';
import type { Directory } from './users.ts';

export interface TokenDeps {
  directory: Directory;
  tokens: TokenService;
  validators: Validators;
  /** Lifetime when the client asks none; may be below Cakemail's 600 s minimum (tests). */
  defaultTtlSeconds: number;
}

export type TokenGrant = 'password' | 'refresh_token' | 'other';

/** Form body → plain object (last value wins, as FastAPI's Form does). */
export function parseForm(body: Buffer): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(body.toString('utf8'))) out[k] = v;
  return out;
}

export function grantOf(form: Record<string, unknown>): TokenGrant {
  const g = form.grant_type ?? 'password';
  return g === 'password' || g === 'refresh_token' ? g : 'other';
}

export function handleToken(form: Record<string, unknown>, deps: TokenDeps): Reply {
  const grant = grantOf(form);
  if (grant === 'other') {
    return errorReply(
      400,
      `Unsupported grant_type: ${String(form.grant_type).slice(0, 64)}`,
      'unsupported_grant_type',
    );
  }
  if (grant === 'refresh_token') return refreshGrant(form, deps);
  return passwordGrant(form, deps);
}

function refreshGrant(form: Record<string, unknown>, deps: TokenDeps): Reply {
  const problems = deps.validators.refreshToken(form);
  if (problems !== null) return json(422, { detail: problems });
  const pair = deps.tokens.refresh(String(form.refresh_token));
  if (pair === null) return errorReply(401, 'Invalid or expired refresh token', 'unauthorized');
  return json(200, pair);
}

function passwordGrant(form: Record<string, unknown>, deps: TokenDeps): Reply {
  const problems = deps.validators.createToken(form);
  if (problems !== null) return json(422, { detail: problems });
  // The schema leaves both optional (the same body serves refresh); a password grant needs them.
  const missing = (['username', 'password'] as const).filter((k) => typeof form[k] !== 'string');
  if (missing.length > 0) {
    return json(422, {
      detail: missing.map((k) => ({ loc: ['body', k], msg: 'field required', type: 'value_error.missing' })),
    });
  }
  const user = deps.directory.users.get(String(form.username).toLowerCase());
  if (user === undefined || user.password !== form.password) {
    return errorReply(401, 'Incorrect username or password', 'unauthorized');
  }
  let accounts = [...user.accounts];
  if (typeof form.account_id === 'number') {
    if (!accounts.includes(form.account_id)) {
      return errorReply(403, `User has no access to account ${form.account_id}`, 'forbidden');
    }
    accounts = [form.account_id];
  }
  if (user.mfa !== undefined) {
    // An SMTP client cannot answer it; the gateway must turn this into an auth failure.
    const challenge = randomBytes(16).toString('hex');
    if (user.mfa.status === 200) return json(200, { challenge });
    return json(
      401,
      { detail: [{ msg: 'Multi-factor authentication required', type: 'unauthorized' }], challenge },
      { 'www-authenticate': 'Bearer' },
    );
  }
  const ttl = typeof form.expiration_seconds === 'number' ? form.expiration_seconds : deps.defaultTtlSeconds;
  const scopes = typeof form.scopes === 'string' ? form.scopes : 'user';
  return json(200, deps.tokens.issue(user.username, accounts, scopes, ttl));
}
