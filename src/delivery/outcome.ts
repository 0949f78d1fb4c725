/**
 * THE mapping from per-recipient results to what the SMTP client is told. Pure: plain
 * data in, a decision out (tested as such).
 *
 * Policy, in order:
 * 1. Every recipient accepted (now or on an earlier try) → 250.
 * 2. Any temporary failure → 451, even beside a permanent refusal: a 5xx would make the
 *    client bounce the message, and the recipients that only failed for now would never
 *    get it. Some accepted → `partiallyDelivered` (the client retries, accepted
 *    recipients are skipped, a refused one is refused again); none → the most specific
 *    temporary reason (table below). Once only refusals are left, the retry gets 3.
 * 3. Only permanent refusals (400/413/422, 403, data.status "rejected") beside any
 *    acceptances → 554 (552 5.3.4 for a 413: the message is too big): the client must not
 *    retry what Cakemail refuses. If other recipients were accepted the text says how many
 *    (`partiallyRejected`); they are in the ledger.
 * A recipient another delivery of the same message is sending (`inFlight`, claims.ts) is a
 * temporary failure: 451 `deliveryInProgress` when nothing else is to say.
 * An `ambiguous` failure (request sent, no answer) is temporary here: it was not
 * retried by us (it may have been sent; no idempotency key exists), and the client's
 * retry is what decides. We prefer a possible duplicate to a silent loss.
 */
import type { CakemailError, CakemailErrorKind } from '../cakemail/errors.ts';
import type { ReplyKey } from '../smtp/replies.ts';

export type RecipientResult =
  | { readonly recipient: string; readonly status: 'accepted' | 'skipped' }
  /** Not sent: another delivery of the same message is sending it (claims.ts). Temporary. */
  | { readonly recipient: string; readonly status: 'inFlight' }
  | { readonly recipient: string; readonly status: 'failed'; readonly error: CakemailError };

/** Labels of cakemail_delivery_outcomes_total. */
export type MessageOutcome = 'all_accepted' | 'partial' | 'deferred' | 'rejected' | 'ambiguous';
/** Labels of cakemail_emails_forwarded_total. */
export type RecipientOutcome =
  'accepted' | 'rejected' | 'failed' | 'ambiguous' | 'skipped_duplicate' | 'in_progress_elsewhere';

interface KindRule {
  readonly permanent: boolean;
  /** Reply when every failure is temporary and nothing was accepted. */
  readonly reply: ReplyKey;
  /** Lower wins when recipients failed for different temporary reasons. */
  readonly rank: number;
}

/** One row per failure kind: is it final, and what the client is told. */
export const KIND_RULES: Readonly<Record<CakemailErrorKind, KindRule>> = {
  validation: { permanent: true, reply: 'upstreamRejected', rank: 0 },
  forbidden: { permanent: true, reply: 'upstreamRejected', rank: 0 },
  rejected: { permanent: true, reply: 'upstreamRejected', rank: 0 },
  // The client must reconnect and AUTH again: say that first.
  session_expired: { permanent: false, reply: 'upstreamSessionExpired', rank: 1 },
  credentials: { permanent: false, reply: 'upstreamSessionExpired', rank: 1 },
  mfa: { permanent: false, reply: 'upstreamSessionExpired', rank: 1 },
  // "It may have been sent": worth knowing before a plain "unavailable".
  ambiguous: { permanent: false, reply: 'upstreamNoAnswer', rank: 2 },
  throttled: { permanent: false, reply: 'upstreamThrottled', rank: 3 },
  // A timeout before the request was written is just the API being unreachable.
  timeout: { permanent: false, reply: 'upstreamUnavailable', rank: 4 },
  unavailable: { permanent: false, reply: 'upstreamUnavailable', rank: 4 },
};

export interface Decision {
  readonly outcome: MessageOutcome;
  /** Unset: every recipient accepted (now or earlier) → 250. */
  readonly reply?: { readonly key: ReplyKey; readonly vars: Record<string, string | number> };
  readonly accepted: number;
  readonly skipped: number;
  readonly total: number;
}

export function recipientOutcome(r: RecipientResult): RecipientOutcome {
  if (r.status === 'inFlight') return 'in_progress_elsewhere';
  if (r.status !== 'failed') return r.status === 'accepted' ? 'accepted' : 'skipped_duplicate';
  if (KIND_RULES[r.error.kind].permanent) return 'rejected';
  return r.error.kind === 'ambiguous' ? 'ambiguous' : 'failed';
}

export function decide(results: readonly RecipientResult[]): Decision {
  const total = results.length;
  const skipped = results.filter((r) => r.status === 'skipped').length;
  // "Accepted" for the client: by Cakemail now or on an earlier try of the same message.
  const accepted = results.filter((r) => r.status === 'accepted' || r.status === 'skipped').length;
  const inFlight = results.filter((r) => r.status === 'inFlight').length;
  const failures = results.flatMap((r) =>
    r.status === 'failed' ? [{ recipient: r.recipient, error: r.error }] : [],
  );
  const counts = { accepted, skipped, total };

  if (failures.length === 0 && inFlight === 0) return { outcome: 'all_accepted', ...counts };

  const temporary = failures.filter((f) => !KIND_RULES[f.error.kind].permanent);
  const refused = failures.find((f) => KIND_RULES[f.error.kind].permanent);
  if (refused && temporary.length === 0 && inFlight === 0) {
    const vars = { recipient: refused.recipient, detail: refused.error.detail };
    // 413: the same body goes to every recipient, so it is the message that is too big.
    const key = refused.error.status === 413 ? 'upstreamTooBig' : 'upstreamRejected';
    return {
      outcome: 'rejected',
      reply:
        accepted > 0
          ? { key: 'partiallyRejected', vars: { ...vars, accepted, total } }
          : { key, vars: key === 'upstreamTooBig' ? { detail: vars.detail } : vars },
      ...counts,
    };
  }

  const ambiguous = temporary.some((f) => f.error.kind === 'ambiguous');
  if (accepted > 0) {
    return {
      outcome: ambiguous ? 'ambiguous' : 'partial',
      reply: { key: 'partiallyDelivered', vars: { accepted, total } },
      ...counts,
    };
  }
  // Nothing failed here: another delivery of it is still sending.
  if (temporary.length === 0)
    return { outcome: 'deferred', reply: { key: 'deliveryInProgress', vars: {} }, ...counts };
  const worst = temporary.reduce((a, b) =>
    KIND_RULES[b.error.kind].rank < KIND_RULES[a.error.kind].rank ? b : a,
  );
  return {
    outcome: ambiguous ? 'ambiguous' : 'deferred',
    reply: { key: KIND_RULES[worst.error.kind].reply, vars: {} },
    ...counts,
  };
}

/**
 * Reply for a sender lookup that failed at the end of DATA: temporary, except a refusal
 * of the lookup itself (403, 400/413/422), which the same account would meet on every retry.
 */
export function lookupFailureReply(err: CakemailError): ReplyKey {
  if (KIND_RULES[err.kind].permanent) return 'senderLookupRefused';
  if (err.kind === 'session_expired') return 'upstreamSessionExpired';
  if (err.kind === 'throttled') return 'upstreamThrottled';
  return 'upstreamUnavailable';
}
