/**
 * The mail pipeline end to end against the real sandbox: raw MIME in, one POST /v2/emails
 * per recipient, each upstream fault → its SMTP reply, no duplicate on a client retry.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CakemailSide } from '../../src/cakemail/index.ts';
import { MemoryLedger, type DeliveryLedger } from '../../src/delivery/ledger.ts';
import type { AuthenticatedAccount, MailPipeline, SenderVerdict } from '../../src/smtp/contracts.ts';
import {
  cakemailApiRetriesTotal,
  cakemailCircuitBreakerState,
  cakemailDeliveryOutcomesTotal,
  cakemailDuplicateSkipsTotal,
  cakemailEmailsForwardedTotal,
} from '../../src/metrics/worker-metrics.ts';
import { DEMO, ctx, metric, type TestSandbox } from './cakemail-helpers.ts';
import { assertReply, mime, refusal, sandboxSuite } from './pipeline-helpers.ts';

describe('delivery pipeline', () => {
  let t: TestSandbox;
  const newSide = sandboxSuite((sandbox) => (t = sandbox));

  async function side(env: Record<string, string> = {}, ledger: DeliveryLedger = new MemoryLedger()) {
    return newSide(env, { ledger });
  }

  async function session(
    s: { authenticator: CakemailSide['authenticator']; pipeline: MailPipeline },
    user: { username: string; password: string } = DEMO,
    mailFrom = 'demo@cakemail.test',
  ) {
    const account = await s.authenticator.authenticate(user.username, user.password, ctx());
    const sender = await s.pipeline.checkSender(account, mailFrom, ctx());
    const send = (
      rcptTo: string[],
      raw: Buffer = mime(),
      verdict: SenderVerdict = sender,
      acct: AuthenticatedAccount = account,
    ) => s.pipeline.deliver({ account: acct, mailFrom, rcptTo, sender: verdict, raw }, ctx());
    return { account, sender, send };
  }

  const outboxRcpts = () =>
    t.sb
      .outbox()
      .map((e) => (e.request as { email: string }).email)
      .sort();

  test('one API call per envelope recipient, same body for each', async () => {
    const { sender, send } = await session(await side());
    assert.equal(sender.senderId, 'snd-1001-demo');
    const receipt = await send(['a@example.com', 'b@example.com', 'c@example.com']);
    assert.match(receipt.queueId, /^[0-9A-Z]{10,}$/);
    assert.equal(receipt.skippedDuplicates, 0);
    assert.equal(t.sb.stats().emails, 3);
    assert.deepEqual(outboxRcpts(), ['a@example.com', 'b@example.com', 'c@example.com']);
    const req = t.sb.outbox()[0]?.request as Record<string, unknown>;
    assert.deepEqual(req.sender, { id: 'snd-1001-demo', name: 'Demo' });
    assert.equal((req.content as { subject: string }).subject, 'Hello from the gateway');
    assert.equal((req.content as { type: string }).type, 'transactional');
  });

  test('the same recipient twice in the envelope (any case) is one call', async () => {
    const { send } = await session(await side());
    await send(['a@example.com', 'A@Example.com']);
    assert.equal(t.sb.stats().emails, 1);
  });

  test('429 on every try → 451 upstreamThrottled after DELIVERY_MAX_ATTEMPTS calls', async () => {
    const { send } = await session(await side({ DELIVERY_MAX_ATTEMPTS: '3' }));
    const retries = await metric(cakemailApiRetriesTotal as never, {
      endpoint: 'emails',
      reason: 'throttled',
    });
    t.sb.setFaults({ status: 429, endpoints: ['emails'] });
    assertReply(await refusal(send(['a@example.com'])), 'upstreamThrottled');
    assert.equal(t.sb.stats().emails, 3);
    assert.equal(
      await metric(cakemailApiRetriesTotal as never, { endpoint: 'emails', reason: 'throttled' }),
      retries + 2,
    );
    assert.equal(t.sb.outbox().length, 0);
  });

  test('no retry whose backoff would end past DELIVERY_DEADLINE_MS', async () => {
    const { send } = await session(
      await side({ DELIVERY_DEADLINE_MS: '200', DELIVERY_RETRY_BASE_MS: '5000' }),
    );
    t.sb.setFaults({ status: 429, endpoints: ['emails'] });
    const started = Date.now();
    assertReply(await refusal(send(['a@example.com'])), 'upstreamThrottled');
    assert.equal(t.sb.stats().emails, 1);
    assert.ok(Date.now() - started < 2000);
  });

  test('a 500 burst shorter than the retries → delivered once', async () => {
    const { send } = await session(await side({ DELIVERY_MAX_ATTEMPTS: '4' }));
    t.sb.setFaults({ status: 500, endpoints: ['emails'], remaining: 2 });
    const receipt = await send(['a@example.com']);
    assert.equal(receipt.skippedDuplicates, 0);
    assert.equal(t.sb.stats().emails, 3);
    assert.deepEqual(outboxRcpts(), ['a@example.com']);
  });

  test('data.status "error" is temporary: retried', async () => {
    const { send } = await session(await side());
    t.sb.setFaults({ submitStatus: 'error', remaining: 1 });
    await send(['a@example.com']);
    assert.equal(t.sb.stats().emails, 2);
  });

  test("a proxy's 504 on the POST → 451 upstreamNoAnswer, NOT retried, counted as ambiguous", async () => {
    const { send } = await session(await side({ DELIVERY_MAX_ATTEMPTS: '4' }));
    const amb = await metric(cakemailEmailsForwardedTotal as never, { outcome: 'ambiguous' });
    t.sb.setFaults({ status: 504, endpoints: ['emails'] });
    assertReply(await refusal(send(['a@example.com'])), 'upstreamNoAnswer');
    assert.equal(t.sb.stats().emails, 1, 'the API may have sent it: not retried');
    assert.equal(await metric(cakemailEmailsForwardedTotal as never, { outcome: 'ambiguous' }), amb + 1);
  });

  test('connection dropped after the request → 451 upstreamNoAnswer, NOT retried, counted as ambiguous', async () => {
    const { send } = await session(await side({ DELIVERY_MAX_ATTEMPTS: '4' }));
    const amb = await metric(cakemailEmailsForwardedTotal as never, { outcome: 'ambiguous' });
    const msgAmb = await metric(cakemailDeliveryOutcomesTotal as never, { outcome: 'ambiguous' });
    t.sb.setFaults({ dropAfterRequest: true, endpoints: ['emails'] });
    assertReply(await refusal(send(['a@example.com'])), 'upstreamNoAnswer');
    assert.equal(t.sb.stats().emails, 1, 'an ambiguous failure is never retried');
    assert.equal(t.sb.outbox().length, 1, 'and in this case Cakemail had indeed taken it');
    assert.equal(await metric(cakemailEmailsForwardedTotal as never, { outcome: 'ambiguous' }), amb + 1);
    assert.equal(await metric(cakemailDeliveryOutcomesTotal as never, { outcome: 'ambiguous' }), msgAmb + 1);
  });

  test('data.status "rejected" → 554 upstreamRejected naming the recipient', async () => {
    const { send } = await session(await side());
    t.sb.setFaults({ submitStatus: 'rejected' });
    assertReply(await refusal(send(['a@example.com'])), 'upstreamRejected', /a@example\.com/);
    assert.equal(t.sb.stats().emails, 1, 'permanent: not retried');
  });

  test('422 → 554 upstreamRejected with the API reason', async () => {
    const { send } = await session(await side());
    t.sb.setFaults({ status: 422, endpoints: ['emails'] });
    assertReply(await refusal(send(['a@example.com'])), 'upstreamRejected', /a@example\.com: Unprocessable/);
    assert.equal(t.sb.stats().emails, 1);
  });

  test('413 → 552 5.3.4 upstreamTooBig; a sender lookup refused at DATA (403) → 550, not a retry', async () => {
    const { send } = await session(await side());
    t.sb.setFaults({ status: 413, endpoints: ['emails'] });
    assertReply(await refusal(send(['a@example.com'])), 'upstreamTooBig', /Payload Too Large/);
    assert.equal(t.sb.stats().emails, 1, 'permanent: not retried');
    t.sb.setFaults({ status: 403, endpoints: ['senders'] });
    const other = await session(await side());
    assertReply(await refusal(other.send(['a@example.com'])), 'senderLookupRefused', /Forbidden/);
  });

  test('partial failure, then the client retries: only the rest is sent, nothing twice', async () => {
    const s = await side({ DELIVERY_MAX_ATTEMPTS: '1', DELIVERY_CONCURRENCY: '1' });
    const { send } = await session(s);
    const skips = await metric(cakemailDuplicateSkipsTotal as never);
    t.sb.setFaults({ status: 503, endpoints: ['emails'], remaining: 1 });
    const rcpts = ['a@example.com', 'b@example.com', 'c@example.com'];
    assertReply(await refusal(send(rcpts)), 'partiallyDelivered', /Accepted for 2 of 3/);
    assert.deepEqual(outboxRcpts(), ['b@example.com', 'c@example.com']);
    // The client retries the very same message (a fresh session, another Message-ID generation does not matter).
    const receipt = await send(rcpts);
    assert.equal(receipt.skippedDuplicates, 2);
    assert.deepEqual(outboxRcpts(), rcpts);
    assert.equal(await metric(cakemailDuplicateSkipsTotal as never), skips + 2);
    // And once more: everything skipped, nothing sent.
    assert.equal((await send(rcpts)).skippedDuplicates, 3);
    assert.equal(t.sb.outbox().length, 3);
  });

  test('no Date, no Message-ID: a delivered message is not remembered, so the same text sent again is delivered again', async () => {
    const { send } = await session(await side());
    const alert = mime({ anonymous: true, body: 'disk full on db1' });
    assert.equal((await send(['a@example.com'], alert)).skippedDuplicates, 0);
    assert.equal((await send(['a@example.com'], alert)).skippedDuplicates, 0);
    assert.equal(t.sb.outbox().length, 2, 'two alerts sent, two delivered');
    // With a Date the second one is the client's retry of the first: skipped.
    const dated = mime({ headers: ['X-Tag: dated'] });
    await send(['a@example.com'], dated);
    assert.equal((await send(['a@example.com'], dated)).skippedDuplicates, 1);
  });

  test('no Date, no Message-ID: a partial delivery is remembered, so the retry sends only the rest', async () => {
    const { send } = await session(await side({ DELIVERY_MAX_ATTEMPTS: '1', DELIVERY_CONCURRENCY: '1' }));
    const alert = mime({ anonymous: true, body: 'disk full on db2' });
    t.sb.setFaults({ status: 503, endpoints: ['emails'], remaining: 1 });
    const rcpts = ['a@example.com', 'b@example.com'];
    assertReply(await refusal(send(rcpts, alert)), 'partiallyDelivered', /Accepted for 1 of 2/);
    assert.equal((await send(rcpts, alert)).skippedDuplicates, 1);
    assert.deepEqual(outboxRcpts(), rcpts);
  });

  test('a different message to the same recipients is not a duplicate', async () => {
    const { send } = await session(await side());
    await send(['a@example.com']);
    await send(['a@example.com'], mime({ body: 'Another text.' }));
    assert.equal(t.sb.outbox().length, 2);
  });

  test('a permanent refusal after other acceptances → 554 partiallyRejected with the count', async () => {
    const { send } = await session(await side({ DELIVERY_CONCURRENCY: '1' }));
    t.sb.setFaults({ submitStatus: 'rejected', remaining: 1 });
    assertReply(
      await refusal(send(['a@example.com', 'b@example.com'])),
      'partiallyRejected',
      /for a@example\.com: .*accepted 1 of 2/,
    );
    assert.deepEqual(outboxRcpts(), ['b@example.com']);
  });

  test('the circuit breaker opens after BREAKER_FAILURE_THRESHOLD failures; then no call is made', async () => {
    const { send } = await session(
      await side({ BREAKER_FAILURE_THRESHOLD: '3', DELIVERY_MAX_ATTEMPTS: '1' }),
    );
    t.sb.setFaults({ status: 500, endpoints: ['emails'] });
    for (let i = 0; i < 3; i++) assertReply(await refusal(send(['a@example.com'])), 'upstreamUnavailable');
    assert.equal(await metric(cakemailCircuitBreakerState as never), 2);
    t.sb.setFaults(null);
    assertReply(await refusal(send(['a@example.com'])), 'upstreamUnavailable');
    assert.equal(t.sb.stats().emails, 3, 'the open breaker answered without calling the API');
  });

  test('X-Sender-Id names the sender; an unknown one → 550 senderIdUnknown', async () => {
    const { send } = await session(await side());
    await send(['a@example.com'], mime({ headers: ['X-Sender-Id: snd-1001-news'] }));
    const req = t.sb.outbox()[0]?.request as {
      sender: { id: string };
      additional_headers?: { name: string }[];
    };
    assert.equal(req.sender.id, 'snd-1001-news');
    assert.ok(
      !(req.additional_headers ?? []).some((h) => /^x-sender-id$/i.test(h.name)),
      'control header stripped',
    );
    assertReply(
      await refusal(send(['a@example.com'], mime({ headers: ['X-Sender-Id: snd-1001-pending'] }))),
      'senderIdUnknown',
      /snd-1001-pending/,
    );
  });

  test('MAIL FROM not a confirmed sender and no X-Sender-Id → 550 senderNotConfirmed', async () => {
    const s = await side();
    const { send, sender } = await session(s, DEMO, 'pending@cakemail.test');
    assert.equal(sender.senderId, undefined);
    assertReply(await refusal(send(['a@example.com'])), 'senderNotConfirmed', /pending@cakemail\.test/);
    assert.equal(t.sb.stats().emails, 0);
    // …but an X-Sender-Id naming a confirmed sender makes it acceptable.
    await send(['a@example.com'], mime({ headers: ['X-Sender-Id: snd-1001-demo'] }));
  });

  test('sender lookup failing at MAIL FROM is retried at DATA; failing there too → 451 upstreamUnavailable', async () => {
    const s = await side();
    t.sb.setFaults({ status: 500, endpoints: ['senders'], remaining: 1 });
    const first = await session(s);
    assert.equal(first.sender.senderId, undefined, 'MAIL FROM is not refused');
    await first.send(['a@example.com']);
    assert.equal(t.sb.outbox().length, 1);

    const s2 = await side();
    t.sb.setFaults({ status: 500, endpoints: ['senders'] });
    const second = await session(s2);
    assertReply(await refusal(second.send(['a@example.com'])), 'upstreamUnavailable');
  });

  test('X-Account-Id: one of the token accounts → sent with account_id; another → 550 accountNotAllowed', async () => {
    const multi = { username: 'multi@cakemail.test', password: 'multi-password' };
    const { send } = await session(await side(), multi, 'other@cakemail.test');
    await send(['a@example.com'], mime({ from: 'other@cakemail.test', headers: ['X-Account-Id: 2002'] }));
    const entry = t.sb.outbox()[0];
    assert.equal(entry?.accountId, 2002);
    assert.equal((entry?.request as { sender: { id: string } }).sender.id, 'snd-2002-other');
    assertReply(
      await refusal(send(['a@example.com'], mime({ headers: ['X-Account-Id: 1'] }))),
      'accountNotAllowed',
      /X-Account-Id 1 /,
    );
  });

  test('attachments: one is sent as an object, two as a list', async () => {
    const { send } = await session(await side());
    const part = (name: string) =>
      [
        '--b1',
        `Content-Type: application/pdf; name="${name}"`,
        `Content-Disposition: attachment; filename="${name}"`,
        'Content-Transfer-Encoding: base64',
        '',
        Buffer.from('%PDF-1.4 test').toString('base64'),
      ].join('\r\n');
    const multipart = (names: string[]) =>
      [
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="b1"',
        '',
        '--b1',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'See attached.',
        ...names.map(part),
        '--b1--',
        '',
      ].join('\r\n');
    await send(['one@example.com'], mime({ extra: multipart(['report.pdf']) }));
    await send(['two@example.com'], mime({ extra: multipart(['a.pdf', 'b.pdf']) }));
    const byRcpt = new Map(
      t.sb
        .outbox()
        .map((e) => [(e.request as { email: string }).email, e.request as { attachment: unknown }]),
    );
    const one = byRcpt.get('one@example.com')?.attachment as { filename: string; type: string };
    assert.equal(one.filename, 'report.pdf');
    assert.equal(one.type, 'pdf');
    assert.equal((byRcpt.get('two@example.com')?.attachment as unknown[]).length, 2);
  });

  test('a failing ledger never blocks mail', async () => {
    const broken: DeliveryLedger = {
      accepted: () => Promise.reject(new Error('ledger down')),
      record: () => Promise.reject(new Error('ledger down')),
    };
    const { send } = await session(await side({}, broken));
    const receipt = await send(['a@example.com']);
    assert.equal(receipt.skippedDuplicates, 0);
    assert.equal(t.sb.outbox().length, 1);
  });

  test('each acceptance is recorded at once, with DEDUP_TTL', async () => {
    const recorded: { keys: string[]; ttl: number }[] = [];
    const ledger = new MemoryLedger();
    const spy: DeliveryLedger = {
      accepted: (k) => ledger.accepted(k),
      record: (keys, ttl) => {
        recorded.push({ keys, ttl });
        return ledger.record(keys, ttl);
      },
    };
    const { send } = await session(await side({ DEDUP_TTL: '120' }, spy));
    await send(['a@example.com', 'b@example.com']);
    assert.equal(recorded.length, 2);
    assert.ok(recorded.every((r) => r.keys.length === 1 && r.ttl === 120));
  });
});
