// Every reply of the table that the Cakemail side produces, end to end: real SMTP → real
// gateway → sandbox Cakemail API with injected faults. Each test checks the exact reply
// line from src/smtp/replies.ts AND what the sandbox saw (calls, outbox).
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { replyLine } from '../../src/smtp/replies.ts';
import { SmtpTestClient } from '../helpers/smtp-client.ts';
import {
  FAST_DELIVERY,
  assertReply,
  deadUrl,
  metricValue,
  mime,
  outboxOf,
  req,
  sendOnce,
  startE2E,
  type E2E,
} from '../helpers/sandbox.ts';
import { startGateway } from '../helpers/gateway.ts';

const ATTEMPTS = Number(FAST_DELIVERY.DELIVERY_MAX_ATTEMPTS);

let e: E2E;
before(async () => {
  e = await startE2E();
});
after(async () => {
  await e?.stop();
});
beforeEach(() => e.reset());

const simple = (subject: string, extra: string[] = [], from = 'demo@cakemail.test') =>
  mime([`From: ${from}`, `Subject: ${subject}`, ...extra], 'body\r\n');

/** AUTH PLAIN over STARTTLS on a fresh connection; returns the reply to AUTH. */
async function authReply(port: number, user: string, pass: string) {
  const { client, banner } = await SmtpTestClient.connect(port);
  assert.equal(banner.code, 220, banner.text);
  try {
    return await client.login(user, pass);
  } finally {
    client.destroy();
  }
}

test('the same message sent again while its first delivery is slow: 451 4.3.0, one copy; the retry after it: 250', async () => {
  // A gateway of its own: the call must outlast CLAIM_AFTER_MS (2 s) within CAKEMAIL_TIMEOUT_MS.
  const slow = await startE2E({ env: { CAKEMAIL_TIMEOUT_MS: '15000' } });
  try {
    slow.sb.setFaults({ latencyMs: 6000, endpoints: ['emails'], remaining: 1 });
    const raw = simple('sent twice', ['Message-ID: <twice-1@test>', 'Date: Tue, 25 Nov 2025 10:00:00 +0000']);
    const port = slow.gw.smtpPort;
    const first = sendOnce(port, ['a@example.com'], raw);
    // Claimed by the worker's sweep, and shared with the other worker.
    await slow.gw.waitForLog((l) => l.event === 'delivery.claimed', 10_000);
    assertReply(await sendOnce(port, ['a@example.com'], raw), replyLine('deliveryInProgress'));
    assert.equal((await first).code, 250);
    const retry = await sendOnce(port, ['a@example.com'], raw);
    assert.equal(retry.code, 250, retry.text);
    assert.equal(slow.sb.outbox().length, 1);
    assert.equal(slow.sb.stats().emails, 1);
  } finally {
    await slow.stop();
  }
});

test('429 storm → 451 4.4.5 after DELIVERY_MAX_ATTEMPTS tries; nothing sent', async () => {
  e.sb.setFaults({ status: 429, endpoints: ['emails'] });
  const reply = await sendOnce(e.gw.smtpPort, ['a@example.com'], simple('throttled'));
  assertReply(reply, replyLine('upstreamThrottled'));
  assert.equal(e.sb.stats().emails, ATTEMPTS, 'retried up to the attempt limit');
  assert.deepEqual(e.sb.outbox(), []);
});

test('a slow API is not latency the gateway added: smtp_data_added_latency_seconds leaves the wait out', async () => {
  const sum = (name: string) => metricValue(e.gw, `${name}_sum`);
  const [dataBefore, addedBefore] = [
    await sum('smtp_data_processing_seconds'),
    await sum('smtp_data_added_latency_seconds'),
  ];
  e.sb.setFaults({ latencyMs: 400, endpoints: ['emails'] });
  const reply = await sendOnce(e.gw.smtpPort, ['slow@example.com'], simple('slow upstream'));
  assert.equal(reply.code, 250, reply.text);
  const data = (await sum('smtp_data_processing_seconds')) - dataBefore;
  const added = (await sum('smtp_data_added_latency_seconds')) - addedBefore;
  assert.ok(data >= 0.4, `end of DATA to reply took ${data} s, the API alone 0.4 s`);
  assert.ok(added < data - 0.35, `added ${added} s must leave out the 0.4 s spent waiting on the API`);
});

test('5xx → 451 4.3.0 after retries; nothing sent', async () => {
  e.sb.setFaults({ status: 503, endpoints: ['emails'] });
  const reply = await sendOnce(e.gw.smtpPort, ['a@example.com'], simple('unavailable'));
  assertReply(reply, replyLine('upstreamUnavailable'));
  assert.equal(e.sb.stats().emails, ATTEMPTS);
  assert.deepEqual(e.sb.outbox(), []);
});

test('a transient 5xx is retried: one 500 then 250, exactly one email sent', async () => {
  e.sb.setFaults({ status: 500, endpoints: ['emails'], remaining: 1 });
  const reply = await sendOnce(e.gw.smtpPort, ['a@example.com'], simple('retried'));
  assert.equal(reply.code, 250, reply.text);
  assert.equal(e.sb.stats().emails, 2);
  await outboxOf(e.sb, 1);
});

test('dropAfterRequest → 451 4.4.1; the email WAS accepted once (ambiguous), not retried, counted', async () => {
  const before = await metricValue(e.gw, 'cakemail_emails_forwarded_total', { outcome: 'ambiguous' });
  e.sb.setFaults({ dropAfterRequest: true, endpoints: ['emails'], remaining: 1 });
  const reply = await sendOnce(e.gw.smtpPort, ['maybe@example.com'], simple('ambiguous'));
  assertReply(reply, replyLine('upstreamNoAnswer'));
  const [entry] = await outboxOf(e.sb, 1);
  assert.equal(req(entry!).email, 'maybe@example.com');
  assert.equal(e.sb.stats().emails, 1, 'an ambiguous POST is never retried by the gateway');
  const afterValue = await metricValue(e.gw, 'cakemail_emails_forwarded_total', { outcome: 'ambiguous' });
  assert.equal(afterValue - before, 1);
});

test('submitStatus rejected → 554 5.6.0 naming the recipient; nothing in the outbox', async () => {
  e.sb.setFaults({ submitStatus: 'rejected' });
  const reply = await sendOnce(e.gw.smtpPort, ['refused@example.com'], simple('rejected'));
  assert.equal(reply.code, 554, reply.text);
  assert.match(reply.text, /^554 5\.6\.0 Cakemail refused the message for refused@example\.com: /);
  assert.equal(e.sb.stats().emails, 1, 'a permanent refusal is not retried');
  assert.deepEqual(e.sb.outbox(), []);
});

test('422 from the API → 554 5.6.0 naming the recipient, not retried', async () => {
  e.sb.setFaults({ status: 422, endpoints: ['emails'] });
  const reply = await sendOnce(e.gw.smtpPort, ['invalid@example.com'], simple('unprocessable'));
  assert.match(reply.text, /^554 5\.6\.0 Cakemail refused the message for invalid@example\.com: /);
  assert.equal(e.sb.stats().emails, 1);
  assert.deepEqual(e.sb.outbox(), []);
});

test('one recipient refused after others accepted → 554 5.6.0 partiallyRejected; the others are sent', async () => {
  const rcpts = ['pr1@example.com', 'pr2@example.com', 'pr3@example.com'];
  // The first POST to arrive (whichever recipient it is) is refused.
  e.sb.setFaults({ submitStatus: 'rejected', remaining: 1 });
  const reply = await sendOnce(e.gw.smtpPort, rcpts, simple('partially rejected'));
  const m =
    /^554 5\.6\.0 Cakemail refused the message for (pr\d@example\.com): .+ \(it accepted 2 of 3 recipients; those are not sent again\)$/.exec(
      reply.text,
    );
  assert.ok(m, reply.text);
  const sent = (await outboxOf(e.sb, 2)).map((x) => req(x).email).sort();
  assert.deepEqual(
    sent,
    rcpts.filter((r) => r !== m[1]),
  );
});

test('X-Account-Id outside the token accounts → 550 5.7.1', async () => {
  const reply = await sendOnce(
    e.gw.smtpPort,
    ['a@example.com'],
    simple('other account', ['X-Account-Id: 2002']),
  );
  assertReply(reply, replyLine('accountNotAllowed', { id: 2002 }));
  assert.equal(e.sb.stats().emails, 0);
});

test('401 on send and the refresh refused → 451 4.7.0 session could not be renewed', async () => {
  const reply = await sendOnce(e.gw.smtpPort, ['a@example.com'], simple('expired'), {
    // Log in first, then make every API call answer 401.
    onAuthenticated: () => e.sb.setFaults({ status: 401, endpoints: ['emails', 'token'] }),
  });
  assertReply(reply, replyLine('upstreamSessionExpired'));
  assert.equal(e.sb.stats().refresh, 1, 'one renewal with the refresh token, refused');
  assert.equal(e.sb.stats().emails, 1, 'no second POST after the refused renewal');
  assert.deepEqual(e.sb.outbox(), []);
});

test('unconfirmed envelope sender → 550 5.7.1 naming it; unknown address too', async () => {
  for (const from of ['pending@cakemail.test', 'stranger@example.com']) {
    const reply = await sendOnce(e.gw.smtpPort, ['a@example.com'], simple('who', [], from), { from });
    assertReply(reply, replyLine('senderNotConfirmed', { address: from }));
  }
  assert.equal(e.sb.stats().emails, 0);
});

test('X-Sender-Id of a confirmed sender with an unconfirmed envelope sender → 250, that sender id', async () => {
  const from = 'pending@cakemail.test';
  const raw = simple('with sender id', ['X-Sender-Id: snd-1001-news'], from);
  const reply = await sendOnce(e.gw.smtpPort, ['a@example.com'], raw, { from });
  assert.equal(reply.code, 250, reply.text);
  const [entry] = await outboxOf(e.sb, 1);
  assert.deepEqual(req(entry!).sender, { id: 'snd-1001-news' });
  const headers = (req(entry!).additional_headers ?? []) as { name: string }[];
  assert.ok(!headers.some((h) => /^x-sender-id$/i.test(h.name)), 'control header consumed, not forwarded');
});

test('X-Sender-Id naming an unconfirmed sender → 550 5.7.1', async () => {
  const raw = simple('bad id', ['X-Sender-Id: snd-1001-pending']);
  const reply = await sendOnce(e.gw.smtpPort, ['a@example.com'], raw);
  assertReply(reply, replyLine('senderIdUnknown', { id: 'snd-1001-pending' }));
  assert.equal(e.sb.stats().emails, 0);
});

test('MFA users (challenge in a 200 and in a 401) → 535 5.7.8 with the MFA text', async () => {
  for (const [user, pass] of [
    ['mfa@cakemail.test', 'mfa-password'],
    ['mfa401@cakemail.test', 'mfa401-password'],
  ] as const) {
    assertReply(await authReply(e.gw.smtpPort, user, pass), replyLine('authMfa'));
  }
  assert.equal(e.sb.stats().token, 2);
});

test('wrong password → 535 5.7.8 (invalid credentials text)', async () => {
  assertReply(await authReply(e.gw.smtpPort, 'demo@cakemail.test', 'wrong'), replyLine('authInvalid'));
});

test('/token answering 503 → 454 4.7.0 at AUTH', async () => {
  e.sb.setFaults({ status: 503, endpoints: ['token'] });
  // A user no other test logs in with: no cached token may answer for the API.
  assertReply(
    await authReply(e.gw.smtpPort, 'other@cakemail.test', 'other-password'),
    replyLine('authUnavailable'),
  );
  assert.ok(e.sb.stats().token >= 1);
});

test('API unreachable at AUTH (closed port) → 454 4.7.0', async () => {
  const gw = await startGateway({
    testMailSide: false,
    env: { CAKEMAIL_API_URL: await deadUrl(), ...FAST_DELIVERY, SMTP_WORKERS: '1' },
  });
  try {
    assertReply(
      await authReply(gw.smtpPort, 'demo@cakemail.test', 'demo-password'),
      replyLine('authUnavailable'),
    );
  } finally {
    await gw.stop();
  }
});
