/**
 * The Cakemail API client: POST /token (password and refresh grants), GET
 * /brands/default/senders (all pages), POST /v2/emails, exactly as in
 * shared/cakemail/CONTRACT.md. One undici Pool per worker (keep-alive, CAKEMAIL_CONNECTIONS
 * sockets), one deadline per call covering connect, send, headers and body, every
 * failure classified into CakemailError (errors.ts), every call timed in
 * cakemail_api_request_duration_seconds{endpoint,outcome}.
 *
 * A call still waiting for a connection when half its deadline has passed is dropped
 * unwritten (`timeout`): written that late, it would be cut short while Cakemail works on
 * it, an avoidable `ambiguous` (under pool saturation, most of them). So a written request
 * always has at least half the deadline for its answer, and no call outlasts the deadline.
 */
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { cakemailApiDuration } from '../metrics/worker-metrics.ts';
import type { SenderFull, SubmitEmail, SubmitEmailResponse, TokenResponse } from './types.ts';
import { CakemailError, classifyStatus, hasChallenge, type CakemailEndpoint } from './errors.ts';
import type { ApiBreaker } from './breaker.ts';

export interface CakemailClientOptions {
  /** Base URL, e.g. https://api.cakemail.dev (a path prefix is kept). */
  baseUrl: string;
  timeoutMs: number;
  connections: number;
  breaker?: ApiBreaker;
  /** per_page of GET /brands/default/senders (default 50, the API's own default). */
  sendersPageSize?: number;
}

interface RawAnswer {
  status: number;
  body: unknown;
}

/** Answers bigger than this are not something the subset we use ever returns. */
const MAX_ANSWER_BYTES = 1024 * 1024;
/** Far above any real account at 50 a page; stops a paging bug from looping forever. */
const MAX_SENDER_PAGES = 100;

/**
 * Where a call was when it failed. This is what makes `ambiguous` precise:
 * - queued: waiting for, or opening, a connection: no byte of the request written.
 * - writing: undici called onConnect and is writing (synchronously, for our Buffer
 *   bodies); a request that is not completely written cannot be acted upon, because
 *   HTTP framing (content-length) makes the server wait for the rest.
 * - sent: undici reported the last byte handed to the socket (onRequestSent): the API
 *   may have received and processed it. From here on a lost answer is `ambiguous`.
 * - answered: status and headers received, body incomplete.
 */
type Phase = 'queued' | 'writing' | 'sent' | 'answered';

export class CakemailClient {
  readonly #pool: Pool;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #breaker: ApiBreaker | undefined;
  readonly #pageSize: number;

  constructor(opts: CakemailClientOptions) {
    const url = new URL(opts.baseUrl);
    this.#prefix = url.pathname.replace(/\/+$/, '');
    this.#timeoutMs = opts.timeoutMs;
    this.#breaker = opts.breaker;
    this.#pageSize = opts.sendersPageSize ?? 50;
    this.#pool = new Pool(url.origin, {
      connections: opts.connections,
      // Our own timer (below) is the deadline; these are backstops at the same value.
      connect: { timeout: opts.timeoutMs },
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 60_000,
    });
  }

  /** POST /token with grant_type=password. Throws credentials | mfa | throttled | unavailable | timeout | ambiguous. */
  async passwordGrant(username: string, password: string): Promise<TokenResponse> {
    const form = new URLSearchParams({ grant_type: 'password', username, password });
    return this.#token(form, 'password');
  }

  /** POST /token with grant_type=refresh_token. A refused refresh token is `session_expired`. */
  async refreshGrant(refreshToken: string): Promise<TokenResponse> {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken });
    return this.#token(form, 'refresh_token');
  }

  /** Every sender of the account (all pages). */
  async listSenders(accessToken: string, accountId?: number): Promise<SenderFull[]> {
    const all: SenderFull[] = [];
    for (let page = 1; page <= MAX_SENDER_PAGES; page++) {
      const q = new URLSearchParams({ page: String(page), per_page: String(this.#pageSize) });
      if (accountId !== undefined) q.set('account_id', String(accountId));
      const data = await this.#call(
        'senders',
        'GET',
        `/brands/default/senders?${q}`,
        accessToken,
        null,
        (a) => {
          const list = (a.body as { data?: unknown } | null)?.data;
          if (a.status !== 200 || !Array.isArray(list)) return undefined;
          return list.filter(isSender);
        },
      );
      all.push(...data);
      if (data.length < this.#pageSize) break;
    }
    return all;
  }

  /**
   * POST /v2/emails[?account_id=N]. Resolves only for data.status "queued"; "rejected"
   * throws `rejected`, "error" throws `unavailable` (temporary: Cakemail says it failed).
   */
  async submitEmail(
    accessToken: string,
    email: SubmitEmail,
    accountId?: number,
  ): Promise<SubmitEmailResponse> {
    return this.submitEmailBody(accessToken, Buffer.from(JSON.stringify(email)), accountId);
  }

  /** submitEmail with the JSON body already made (a message's recipients share most of it: email-body.ts). */
  async submitEmailBody(accessToken: string, body: Buffer, accountId?: number): Promise<SubmitEmailResponse> {
    const path = accountId === undefined ? '/v2/emails' : `/v2/emails?account_id=${accountId}`;
    return this.#call('emails', 'POST', path, accessToken, body, (a) => {
      if (a.status < 200 || a.status >= 300) return undefined;
      const res = a.body as Partial<SubmitEmailResponse> | null;
      const status = res?.data?.status;
      if (status === 'queued') return res as SubmitEmailResponse;
      if (status === 'rejected')
        throw new CakemailError('rejected', 'emails', a.status, detailOfStatus(a.body, 'rejected'));
      if (status === 'error')
        throw new CakemailError('unavailable', 'emails', a.status, detailOfStatus(a.body, 'error'));
      // A 2xx we cannot read: Cakemail took the request, we cannot tell what became of it.
      throw new CakemailError('ambiguous', 'emails', a.status, 'unreadable success answer');
    });
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }

  async #token(form: URLSearchParams, grant: 'password' | 'refresh_token'): Promise<TokenResponse> {
    const body = Buffer.from(form.toString());
    return this.#call(
      'token',
      'POST',
      '/token',
      null,
      body,
      (a) => {
        if (a.status === 200 && hasChallenge(a.body)) {
          throw new CakemailError('mfa', 'token', a.status, 'multi-factor authentication challenge');
        }
        if (a.status !== 200) return undefined;
        const t = a.body as Partial<TokenResponse> | null;
        if (
          typeof t?.access_token !== 'string' ||
          typeof t.expires_in !== 'number' ||
          !Array.isArray(t.accounts) ||
          (grant === 'password' && typeof t.refresh_token !== 'string')
        ) {
          throw new CakemailError('unavailable', 'token', a.status, 'unexpected token answer');
        }
        return t as TokenResponse;
      },
      grant,
    );
  }

  /**
   * One API call through the breaker. `accept` turns an answer into the result, throws a
   * classified error itself, or returns undefined for "not a success" (then classified
   * by status).
   */
  async #call<T>(
    endpoint: CakemailEndpoint,
    method: 'GET' | 'POST',
    path: string,
    accessToken: string | null,
    body: Buffer | null,
    accept: (a: RawAnswer) => T | undefined,
    grant?: 'password' | 'refresh_token',
  ): Promise<T> {
    const run = async (): Promise<T> => {
      const started = performance.now();
      let outcome = 'ok';
      try {
        const answer = await this.#send(endpoint, method, path, accessToken, body, grant);
        const result = accept(answer);
        if (result === undefined) throw classifyStatus(endpoint, answer.status, answer.body, grant);
        return result;
      } catch (err) {
        outcome = err instanceof CakemailError ? err.kind : 'error';
        throw err;
      } finally {
        cakemailApiDuration.observe({ endpoint, outcome }, (performance.now() - started) / 1000);
      }
    };
    return this.#breaker ? this.#breaker.execute(endpoint, run) : run();
  }

  #send(
    endpoint: CakemailEndpoint,
    method: 'GET' | 'POST',
    path: string,
    accessToken: string | null,
    body: Buffer | null,
    grant: 'password' | 'refresh_token' | undefined,
  ): Promise<RawAnswer> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (accessToken) headers.authorization = `Bearer ${accessToken}`;
    if (body) {
      headers['content-type'] =
        endpoint === 'token' ? 'application/x-www-form-urlencoded' : 'application/json';
    }
    const timeoutMs = this.#timeoutMs;

    return new Promise<RawAnswer>((resolve, reject) => {
      let phase: Phase = 'queued';
      let status = 0;
      let size = 0;
      const chunks: Buffer[] = [];
      let abort: ((err?: Error) => void) | null = null;
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fn();
      };
      const fail = (why: string, timedOut: boolean) =>
        settle(() => reject(transportFailure(endpoint, phase, status, why, timedOut, grant)));

      const startedAt = performance.now();
      // One timer a call: at half the deadline a call still queued is dropped unwritten (see
      // the module comment); one already written gets the rest of the deadline.
      const expire = () => {
        fail(`no answer within ${timeoutMs} ms`, true);
        abort?.(new Error('deadline'));
      };
      let timer = setTimeout(() => {
        if (phase === 'queued') return fail(`no connection within ${timeoutMs / 2} ms`, true);
        timer = setTimeout(expire, Math.max(0, timeoutMs - (performance.now() - startedAt)));
      }, timeoutMs / 2);

      // undici's handler with onRequestSent: the only hook that tells "fully written".
      const handler = {
        onConnect(a: (err?: Error) => void) {
          // Called right before undici writes the request on a connected socket.
          if (settled) return a(new Error('deadline'));
          abort = a;
          phase = 'writing';
        },
        onRequestSent() {
          phase = 'sent';
        },
        onResponseStarted() {},
        onHeaders(statusCode: number) {
          if (statusCode < 200) return true; // 1xx informational
          status = statusCode;
          phase = 'answered';
          return true;
        },
        onData(chunk: Buffer) {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) {
            abort?.(new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`));
            return false;
          }
          chunks.push(chunk);
          return true;
        },
        onComplete() {
          settle(() => resolve({ status, body: parseBody(Buffer.concat(chunks)) }));
        },
        onError(err: Error) {
          fail(err.message || err.name, false);
        },
        onUpgrade() {},
      };
      try {
        this.#pool.dispatch(
          { path: this.#prefix + path, method, headers, body },
          handler as unknown as Dispatcher.DispatchHandler,
        );
      } catch (err) {
        fail((err as Error).message, false);
      }
    });
  }
}

/**
 * See Phase: only a request known to be completely written can be `ambiguous`, and only a
 * POST /v2/emails: a /token or senders call that lost its answer sent no email, and doing
 * it again doubles nothing, so it is retryable like any call that never reached the API.
 */
function transportFailure(
  endpoint: CakemailEndpoint,
  phase: Phase,
  status: number,
  why: string,
  timedOut: boolean,
  grant: 'password' | 'refresh_token' | undefined,
): CakemailError {
  const harmless = endpoint !== 'emails';
  switch (phase) {
    case 'queued':
    case 'writing':
      return new CakemailError(timedOut ? 'timeout' : 'unavailable', endpoint, 0, why);
    case 'sent':
      if (harmless) return new CakemailError(timedOut ? 'timeout' : 'unavailable', endpoint, 0, why);
      return new CakemailError('ambiguous', endpoint, 0, why);
    case 'answered':
      // A success whose body never arrived: accepted, but we cannot read data.status.
      if (status >= 200 && status < 300) {
        if (harmless) return new CakemailError(timedOut ? 'timeout' : 'unavailable', endpoint, 0, why);
        return new CakemailError('ambiguous', endpoint, status, why);
      }
      return classifyStatus(endpoint, status, undefined, grant);
  }
}

function parseBody(buf: Buffer): unknown {
  const text = buf.toString('utf8');
  if (!text) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function detailOfStatus(body: unknown, status: string): string {
  const data = (body as { data?: Record<string, unknown> } | null)?.data;
  const reason = data?.reason ?? data?.error ?? (body as { detail?: unknown } | null)?.detail;
  return typeof reason === 'string' && reason ? reason.slice(0, 300) : `Cakemail answered status "${status}"`;
}

function isSender(x: unknown): x is SenderFull {
  const s = x as Partial<SenderFull> | null;
  return typeof s?.id === 'string' && typeof s.email === 'string' && typeof s.confirmed === 'boolean';
}
