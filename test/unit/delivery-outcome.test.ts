/** The outcome table (mixed per-recipient results → one SMTP reply), the ledger, retry delays. Plain data. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CakemailError, type CakemailErrorKind } from '../../src/cakemail/errors.ts';
import {
  KIND_RULES,
  decide,
  lookupFailureReply,
  recipientOutcome,
  type RecipientResult,
} from '../../src/delivery/outcome.ts';
import { MemoryLedger, ledgerKey } from '../../src/delivery/ledger.ts';
import { retryDelays } from '../../src/delivery/submit.ts';
import { newQueueId } from '../../src/delivery/pipeline.ts';
import { REPLIES, SmtpReplyError } from '../../src/smtp/replies.ts';

const ok = (recipient: string): RecipientResult => ({ recipient, status: 'accepted' });
const skip = (recipient: string): RecipientResult => ({ recipient, status: 'skipped' });
const fail = (recipient: string, kind: CakemailErrorKind, detail = 'why'): RecipientResult => ({
  recipient,
  status: 'failed',
  error: new CakemailError(kind, 'emails', 0, detail),
});

test('all accepted (now or earlier) → no reply, counts', () => {
  const d = decide([ok('a'), skip('b')]);
  assert.equal(d.reply, undefined);
  assert.equal(d.outcome, 'all_accepted');
  assert.deepEqual([d.accepted, d.skipped, d.total], [2, 1, 2]);
});

test('permanent refusals only (beside acceptances) → 554', () => {
  assert.deepEqual(decide([fail('a', 'validation', 'content.subject: field required')]).reply, {
    key: 'upstreamRejected',
    vars: { recipient: 'a', detail: 'content.subject: field required' },
  });
  const d = decide([ok('a'), skip('b'), fail('c', 'rejected', 'bounced before')]);
  assert.equal(d.outcome, 'rejected');
  assert.deepEqual(d.reply, {
    key: 'partiallyRejected',
    vars: { recipient: 'c', detail: 'bounced before', accepted: 2, total: 3 },
  });
  const text = new SmtpReplyError('partiallyRejected', d.reply?.vars).message;
  assert.match(text, /^5\.6\.0 Cakemail refused the message for c: bounced before \(it accepted 2 of 3/);
  assert.equal(decide([fail('a', 'forbidden')]).reply?.key, 'upstreamRejected');
});

test('a temporary failure beside a refusal → 451: a bounce would lose the recipient that failed for now', () => {
  const d = decide([ok('a'), fail('b', 'rejected', 'suppressed'), fail('c', 'throttled')]);
  assert.equal(d.outcome, 'partial');
  assert.deepEqual(d.reply, { key: 'partiallyDelivered', vars: { accepted: 1, total: 3 } });
  // Nothing accepted: the temporary reason, not the refusal.
  const none = decide([fail('a', 'rejected'), fail('b', 'unavailable'), fail('c', 'validation')]);
  assert.equal(none.outcome, 'deferred');
  assert.equal(none.reply?.key, 'upstreamUnavailable');
  assert.equal(decide([fail('a', 'forbidden'), fail('b', 'ambiguous')]).outcome, 'ambiguous');
  // The client's retry: a skipped, b refused again, c accepted → now the refusal is final.
  const retry = decide([skip('a'), fail('b', 'rejected', 'suppressed'), ok('c')]);
  assert.equal(retry.reply?.key, 'partiallyRejected');
  assert.deepEqual(retry.reply?.vars, { recipient: 'b', detail: 'suppressed', accepted: 2, total: 3 });
});

test('some accepted + temporary failures → 451 partiallyDelivered', () => {
  const d = decide([ok('a'), skip('b'), fail('c', 'unavailable')]);
  assert.equal(d.outcome, 'partial');
  assert.deepEqual(d.reply, { key: 'partiallyDelivered', vars: { accepted: 2, total: 3 } });
  assert.equal(decide([ok('a'), fail('b', 'ambiguous')]).outcome, 'ambiguous');
});

test('all failing temporarily → the most specific reason', () => {
  const key = (...kinds: CakemailErrorKind[]) => decide(kinds.map((k, i) => fail(String(i), k))).reply?.key;
  assert.equal(key('throttled', 'throttled'), 'upstreamThrottled');
  assert.equal(key('unavailable'), 'upstreamUnavailable');
  assert.equal(key('timeout'), 'upstreamUnavailable');
  assert.equal(key('ambiguous'), 'upstreamNoAnswer');
  assert.equal(key('session_expired'), 'upstreamSessionExpired');
  assert.equal(key('unavailable', 'throttled'), 'upstreamThrottled');
  assert.equal(key('throttled', 'ambiguous', 'unavailable'), 'upstreamNoAnswer');
  assert.equal(key('ambiguous', 'session_expired'), 'upstreamSessionExpired');
  assert.equal(decide([fail('a', 'throttled')]).outcome, 'deferred');
  assert.equal(decide([fail('a', 'ambiguous')]).outcome, 'ambiguous');
});

test('every kind has a rule whose reply class matches its permanence', () => {
  for (const [kind, rule] of Object.entries(KIND_RULES)) {
    const code = REPLIES[rule.reply].code;
    assert.equal(rule.permanent, code >= 500, `${kind} → ${rule.reply} (${code})`);
  }
});

test('per-recipient metric labels', () => {
  assert.equal(recipientOutcome(ok('a')), 'accepted');
  assert.equal(recipientOutcome(skip('a')), 'skipped_duplicate');
  assert.equal(recipientOutcome(fail('a', 'rejected')), 'rejected');
  assert.equal(recipientOutcome(fail('a', 'validation')), 'rejected');
  assert.equal(recipientOutcome(fail('a', 'ambiguous')), 'ambiguous');
  assert.equal(recipientOutcome(fail('a', 'throttled')), 'failed');
});

test('sender lookup failures at DATA are temporary, a refused lookup (403, 4xx) is not', () => {
  const e = (kind: CakemailErrorKind) => new CakemailError(kind, 'senders', 0, 'x');
  assert.equal(lookupFailureReply(e('unavailable')), 'upstreamUnavailable');
  assert.equal(lookupFailureReply(e('ambiguous')), 'upstreamUnavailable');
  assert.equal(lookupFailureReply(e('throttled')), 'upstreamThrottled');
  assert.equal(lookupFailureReply(e('session_expired')), 'upstreamSessionExpired');
  assert.equal(lookupFailureReply(e('forbidden')), 'senderLookupRefused');
  assert.equal(lookupFailureReply(e('validation')), 'senderLookupRefused');
  assert.equal(REPLIES.senderLookupRefused.code, 550);
});

test('a 413 from Cakemail → 552 5.3.4 (the message is too big), not 554 5.6.0', () => {
  const tooBig: RecipientResult = {
    recipient: 'a',
    status: 'failed',
    error: new CakemailError('validation', 'emails', 413, 'Request body too large'),
  };
  assert.deepEqual(decide([tooBig]).reply, {
    key: 'upstreamTooBig',
    vars: { detail: 'Request body too large' },
  });
  assert.equal(REPLIES.upstreamTooBig.code, 552);
  assert.equal(REPLIES.upstreamTooBig.enhanced, '5.3.4');
  // Some recipients already accepted: the partial refusal still says how many.
  assert.equal(decide([ok('b'), tooBig]).reply?.key, 'partiallyRejected');
});

test('recipients another delivery is sending (inFlight) → 451, never 250 nor 554', () => {
  const inFlight = (recipient: string): RecipientResult => ({ recipient, status: 'inFlight' });
  assert.deepEqual(decide([inFlight('a')]).reply, { key: 'deliveryInProgress', vars: {} });
  assert.equal(decide([inFlight('a')]).outcome, 'deferred');
  assert.equal(decide([skip('b'), inFlight('a')]).reply?.key, 'partiallyDelivered');
  assert.equal(decide([inFlight('a'), fail('b', 'throttled')]).reply?.key, 'upstreamThrottled');
  // Beside a refusal: the other delivery may still succeed for its recipient; retry, do not bounce.
  assert.equal(decide([inFlight('a'), fail('b', 'rejected')]).reply?.key, 'deliveryInProgress');
  assert.equal(recipientOutcome(inFlight('a')), 'in_progress_elsewhere');
});

test('ledger keys: recipient case-insensitive, account and digest matter', () => {
  assert.equal(ledgerKey('u|', 'A@X.test', 'd1'), ledgerKey('u|', 'a@x.test', 'd1'));
  assert.notEqual(ledgerKey('u|', 'a@x.test', 'd1'), ledgerKey('u|', 'a@x.test', 'd2'));
  assert.notEqual(ledgerKey('u|', 'a@x.test', 'd1'), ledgerKey('u|2002', 'a@x.test', 'd1'));
  assert.doesNotMatch(ledgerKey('u|', 'a@x.test', 'd1'), /x\.test/);
});

test('MemoryLedger: TTL and bound', async () => {
  let now = 0;
  const l = new MemoryLedger({ maxEntries: 2, now: () => now });
  await l.record(['a'], 10);
  await l.record(['b', 'c'], 10); // a is evicted
  assert.deepEqual([...(await l.accepted(['a', 'b', 'c', 'd']))].sort(), ['b', 'c']);
  now += 10_001;
  assert.equal((await l.accepted(['b', 'c'])).size, 0);
  assert.equal(l.size, 0);
});

test('retry delays: exponential, jittered in [0.5, 1), capped', () => {
  assert.deepEqual(
    retryDelays(3, 100, () => 0),
    [50, 100, 200],
  );
  assert.deepEqual(
    retryDelays(3, 100, () => 0.999999),
    [100, 200, 400],
  );
  assert.equal(retryDelays(10, 100, () => 0.999999)[9], 3200);
  assert.deepEqual(retryDelays(0, 100), []);
});

test('queue ids are short, unique and upper-case base36', () => {
  const ids = new Set(Array.from({ length: 1000 }, newQueueId));
  assert.equal(ids.size, 1000);
  for (const id of ids) assert.match(id, /^[0-9A-Z]{12,16}$/);
});
