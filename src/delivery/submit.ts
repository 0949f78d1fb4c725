/**
 * One recipient's POST /v2/emails, with retries (cockatiel).
 *
 * - Retried: 429, 5xx, data.status "error", connection failures and timeouts that
 *   happened BEFORE the request was completely written (errors.ts isRetryable).
 * - NEVER retried: `ambiguous` (the request was sent, no answer came). Cakemail has no
 *   idempotency key, so a retry could send the email twice; the message ends in 451
 *   upstreamNoAnswer and the decision goes back to the client (counted in
 *   cakemail_emails_forwarded_total{outcome="ambiguous"}).
 * - Not retried: permanent refusals, and a 401 beyond the one refresh + retry that
 *   CakemailAuthenticator.withToken does.
 * - Jittered exponential backoff from DELIVERY_RETRY_BASE_MS, at most
 *   DELIVERY_MAX_ATTEMPTS attempts, and no retry whose delay would end past the message
 *   deadline (DELIVERY_DEADLINE_MS). An attempt in flight is never cut short by the
 *   deadline: that would turn a clean answer into an ambiguous one.
 * - Once a stopping worker's drain has ended (`callsOpen`), no attempt starts at all.
 */
import { IterableBackoff, handleWhen, retry } from 'cockatiel';
import type { CakemailAuthenticator } from '../cakemail/authenticator.ts';
import type { CakemailClient } from '../cakemail/client.ts';
import { CakemailError, isCakemailError, isRetryable } from '../cakemail/errors.ts';
import type { SubmitEmailResponse } from '../cakemail/types.ts';
import { cakemailApiRetriesTotal } from '../metrics/worker-metrics.ts';

export interface RetrySettings {
  maxAttempts: number;
  baseDelayMs: number;
  now?: () => number;
  random?: () => number;
}

export interface SubmitJob {
  credentialKey: string;
  /** The JSON of the SubmitEmail (SubmitEmailBodies.for). */
  body: Buffer;
  accountId?: number;
  /** Epoch ms after which no new attempt starts. */
  deadline: number;
  /**
   * False once the worker's drain has ended (MailPipeline.stopCalls): from then on no
   * attempt starts, a first one included, so the worker's last calls are those already
   * on the wire. A call not made ends as `unavailable`: 451, the client sends it again.
   */
  callsOpen?: () => boolean;
}

/** Delays before retries 1..n: base·2^(i-1), capped at 32·base, each scaled by a jitter in [0.5, 1). */
export function retryDelays(retries: number, baseMs: number, random: () => number = Math.random): number[] {
  return Array.from({ length: Math.max(0, retries) }, (_, i) =>
    Math.round(Math.min(baseMs * 2 ** i, baseMs * 32) * (0.5 + random() / 2)),
  );
}

export async function submitWithRetry(
  client: CakemailClient,
  auth: CakemailAuthenticator,
  job: SubmitJob,
  s: RetrySettings,
): Promise<SubmitEmailResponse> {
  const now = s.now ?? Date.now;
  let attempts = 0;
  const attempt = () => {
    attempts++;
    if (job.callsOpen?.() === false) return Promise.reject(notStarted());
    return auth.withToken(job.credentialKey, (token) =>
      client.submitEmailBody(token, job.body, job.accountId),
    );
  };
  // The first attempt runs without a policy: almost every recipient is accepted at once,
  // and building a cockatiel policy per recipient was ~1.5 % of a worker's CPU in bench (a).
  let firstError: unknown;
  try {
    return await attempt();
  } catch (err) {
    firstError = err;
  }
  // Drawn only now: almost every recipient never needs them.
  const delays = retryDelays(s.maxAttempts - 1, s.baseDelayMs, s.random);
  if (delays.length === 0 || !isRetryable(firstError) || job.callsOpen?.() === false) throw firstError;
  // A retry policy for this recipient: the deadline and the drawn delays are its own. Its
  // first run replays the failure above, so it decides, backs off and counts as if it had
  // made that attempt itself.
  const policy = retry(
    handleWhen(
      (err) =>
        isRetryable(err) &&
        job.callsOpen?.() !== false &&
        now() + (delays[attempts - 1] ?? Infinity) <= job.deadline,
    ),
    { maxAttempts: delays.length, backoff: new IterableBackoff(delays) },
  );
  policy.onRetry((r) => {
    const reason = 'error' in r && isCakemailError(r.error) ? r.error.kind : 'error';
    cakemailApiRetriesTotal.inc({ endpoint: 'emails', reason });
  });
  let replayed = false;
  return policy.execute(() => {
    if (replayed) return attempt();
    replayed = true;
    return Promise.reject(firstError as Error);
  });
}

/** The failure of an attempt the drain kept from starting: it certainly did not act upstream. */
function notStarted(): CakemailError {
  return new CakemailError('unavailable', 'emails', 0, 'not sent: the gateway is stopping');
}
