/**
 * One error type for every way a Cakemail API call can fail, so callers decide on
 * `kind` alone: the authenticator maps kinds to AUTH replies, delivery to retry or
 * not and to DATA replies (src/delivery/outcome.ts).
 */

export type CakemailEndpoint = 'token' | 'senders' | 'emails';

export type CakemailErrorKind =
  /** /token refused the username/password (400/401/403/422 on a password grant). */
  | 'credentials'
  /** /token answered with an MFA `challenge`: SMTP cannot answer it. */
  | 'mfa'
  /** 400/413/422: the API refused what we sent. Permanent. */
  | 'validation'
  /** 403 on a call made with a valid token: not allowed. Permanent. */
  | 'forbidden'
  /** 201 with data.status "rejected". Permanent. */
  | 'rejected'
  /** 429. Temporary, retryable. */
  | 'throttled'
  /** 5xx, connection refused/reset before the request was fully written (any time for
   *  /token and senders), breaker open, 201 with data.status "error", unexpected statuses.
   *  Temporary, retryable. */
  | 'unavailable'
  /** The call timed out before the request was fully written: the API cannot have acted
   *  on it (or, for /token and senders, nothing it did can be doubled). Temporary, retryable. */
  | 'timeout'
  /** A POST /v2/emails fully written but with no (complete) answer: the API MAY have sent
   *  the email. Never retried automatically (no idempotency key exists). */
  | 'ambiguous'
  /** 401 on a call made with an access token, or the refresh token was refused. */
  | 'session_expired';

export class CakemailError extends Error {
  override name = 'CakemailError';
  readonly kind: CakemailErrorKind;
  readonly endpoint: CakemailEndpoint;
  /** HTTP status when an answer came (0 otherwise). */
  readonly status: number;
  /** The API's reason text (from `detail`), or a description of the transport failure. */
  readonly detail: string;

  constructor(kind: CakemailErrorKind, endpoint: CakemailEndpoint, status: number, detail: string) {
    super(`Cakemail ${endpoint}: ${kind}${status ? ` (HTTP ${status})` : ''}: ${detail}`);
    this.kind = kind;
    this.endpoint = endpoint;
    this.status = status;
    this.detail = detail;
  }
}

export function isCakemailError(err: unknown): err is CakemailError {
  return err instanceof CakemailError;
}

/** Failures a later identical call may cure, and that certainly did not act upstream. */
export function isRetryable(err: unknown): boolean {
  return (
    isCakemailError(err) && (err.kind === 'throttled' || err.kind === 'unavailable' || err.kind === 'timeout')
  );
}

/** Failures that say the API itself is unwell (they feed the circuit breaker). */
export function isUpstreamFailure(err: unknown): boolean {
  // 429 is `throttled`, not here: rate limits are per account, and one account's limit
  // must not open the breaker for every other account of the worker.
  // An answer with another status (data.status "error", a 404 from a misrouted proxy) proves
  // the API reachable: it does not count either.
  if (!isCakemailError(err)) return false;
  if (err.kind === 'timeout' || err.kind === 'ambiguous') return true;
  return err.kind === 'unavailable' && (err.status === 0 || err.status >= 500);
}

/** Failures that will not change on a retry of the same message. */
export function isPermanent(err: unknown): boolean {
  return (
    isCakemailError(err) && (err.kind === 'validation' || err.kind === 'forbidden' || err.kind === 'rejected')
  );
}

/**
 * The reason text of a FastAPI-shaped error body: `detail` is a string or a list of
 * `{msg, loc?, type?, code?}`. Kept short and single-line: it may end up in a reply.
 */
export function detailText(body: unknown, fallback: string): string {
  const detail =
    typeof body === 'object' && body !== null ? (body as { detail?: unknown }).detail : undefined;
  let text = '';
  if (typeof detail === 'string') text = detail;
  else if (Array.isArray(detail)) {
    text = detail
      .map((item: unknown) => {
        if (typeof item === 'string') return item;
        if (typeof item !== 'object' || item === null) return '';
        const { msg, loc } = item as { msg?: unknown; loc?: unknown };
        const where = Array.isArray(loc) ? loc.filter((x) => x !== 'body').join('.') : '';
        const m = typeof msg === 'string' ? msg : '';
        return where && m ? `${where}: ${m}` : m;
      })
      .filter(Boolean)
      .join('; ');
  }
  text = text.replace(/\s+/g, ' ').trim();
  return (text || fallback).slice(0, 300);
}

/**
 * Classifies an HTTP answer that is not the expected success. `grant` says which kind
 * of /token call it was: a refused password is `credentials`, a refused refresh token
 * is `session_expired`.
 */
export function classifyStatus(
  endpoint: CakemailEndpoint,
  status: number,
  body: unknown,
  grant?: 'password' | 'refresh_token',
): CakemailError {
  const detail = detailText(body, `HTTP ${status}`);
  if (endpoint === 'token' && hasChallenge(body)) return new CakemailError('mfa', endpoint, status, detail);
  if (status === 429) return new CakemailError('throttled', endpoint, status, detail);
  // A proxy that timed out waiting for the API: the API may have sent the email after all.
  // No idempotency key exists, so it is not retried (like a dropped answer) and is counted.
  if (status === 504 && endpoint === 'emails')
    return new CakemailError('ambiguous', endpoint, status, detail);
  if (status >= 500) return new CakemailError('unavailable', endpoint, status, detail);
  if (endpoint === 'token' && (status === 400 || status === 401 || status === 403 || status === 422)) {
    return new CakemailError(
      grant === 'refresh_token' ? 'session_expired' : 'credentials',
      endpoint,
      status,
      detail,
    );
  }
  if (status === 401) return new CakemailError('session_expired', endpoint, status, detail);
  if (status === 403) return new CakemailError('forbidden', endpoint, status, detail);
  if (status === 400 || status === 413 || status === 422)
    return new CakemailError('validation', endpoint, status, detail);
  // 404, 405, 408, 409, 3xx…: a misconfiguration or a proxy speaking, not a verdict on the
  // message. Temporary, so the client keeps the mail and retries instead of bouncing it.
  return new CakemailError('unavailable', endpoint, status, detail);
}

export function hasChallenge(body: unknown): boolean {
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as { challenge?: unknown }).challenge === 'string'
  );
}
