// A client retrying after a partial failure creates no duplicate, even when the retry lands
// on the other worker: the delivery ledger is pod-wide (held by the primary). And an
// ambiguous recipient (request sent, no answer) is NOT in the ledger: the retry resends
// it — the documented choice of a possible duplicate over a silent loss.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { replyLine } from '../../src/smtp/replies.ts';
import { SmtpTestClient } from '../helpers/smtp-client.ts';
import {
  DEMO,
  FAST_DELIVERY,
  assertReply,
  metricValue,
  mime,
  outboxOf,
  req,
  sendBytes,
  startE2E,
  type E2E,
} from '../helpers/sandbox.ts';

const ATTEMPTS = Number(FAST_DELIVERY.DELIVERY_MAX_ATTEMPTS);
const RCPTS = ['r1@example.com', 'r2@example.com', 'r3@example.com'];

let e: E2E;
before(async () => {
  // One recipient at a time: the injected faults hit recipients in a known order. Records
  // of clean 250s held for 10 minutes: only a closed session can have shared them.
  e = await startE2E({ env: { DELIVERY_CONCURRENCY: '1', DEDUP_SHARE_DELAY_MS: '600000' } });
});
after(async () => {
  await e?.stop();
});
beforeEach(() => e.reset());

/** A logged-in session and the worker that serves it (from its smtp.connect log line). */
async function session(): Promise<{ client: SmtpTestClient; worker: number }> {
  const from = e.gw.lines.length;
  const { client, banner } = await SmtpTestClient.connect(e.gw.smtpPort);
  assert.equal(banner.code, 220, banner.text);
  // Sessions are opened one at a time, so the next smtp.connect line is this one.
  const line = await e.gw.waitForLog((l) => l.event === 'smtp.connect', 10_000, from);
  const auth = await client.login(DEMO.user, DEMO.pass);
  assert.equal(auth.code, 235, auth.text);
  return { client, worker: line.worker as number };
}

/** A session on a worker other than `not` (round-robin makes the first or second try land there). */
async function sessionAvoiding(not: number) {
  for (let i = 0; i < 6; i++) {
    const s = await session();
    if (s.worker !== not) return s;
    s.client.end();
  }
  throw new Error(`every session landed on worker ${not}`);
}

const emailsTo = () => e.sb.outbox().map((x) => req(x).email);

test('partial failure (451), retry of the SAME message → 250, exactly one email per recipient', async () => {
  const raw = mime(
    ['From: demo@cakemail.test', 'Subject: partial then retry', 'Message-ID: <dedup-1@x.test>'],
    'body\r\n',
  );
  const skipsBefore = await metricValue(e.gw, 'cakemail_duplicate_skips_total');
  // r1 and r2 get 500 on every attempt; r3 is accepted.
  e.sb.setFaults({ status: 500, endpoints: ['emails'], remaining: 2 * ATTEMPTS });
  const first = await session();
  assertReply(
    await sendBytes(first.client, DEMO.user, RCPTS, raw),
    replyLine('partiallyDelivered', { accepted: 1, total: 3 }),
  );
  first.client.end();
  assert.deepEqual(emailsTo(), ['r3@example.com']);
  assert.equal(e.sb.stats().emails, 2 * ATTEMPTS + 1);
  assert.equal(e.sb.getFaults(), null, 'the fault budget is used up');

  const retry = await sessionAvoiding(first.worker);
  const reply = await sendBytes(retry.client, DEMO.user, RCPTS, raw);
  retry.client.end();
  assert.match(
    reply.text,
    /^250 2\.0\.0 Ok: queued as [0-9A-Z]+ \(already accepted earlier for 1 recipient\(s\), not sent twice\)$/,
  );
  const entries = await outboxOf(e.sb, 3);
  assert.deepEqual(entries.map((x) => req(x).email).sort(), RCPTS);
  assert.equal(e.sb.stats().emails, 2 * ATTEMPTS + 1 + 2, 'the retry posted only r1 and r2');
  assert.equal((await metricValue(e.gw, 'cakemail_duplicate_skips_total')) - skipsBefore, 1);

  // A third send of the same message sends nothing at all.
  const again = await session();
  const third = await sendBytes(again.client, DEMO.user, RCPTS, raw);
  again.client.end();
  assert.match(third.text, /already accepted earlier for 3 recipient\(s\)/);
  assert.equal(e.sb.outbox().length, 3);
});

test('a 250 lost with its connection: the resend on the other worker is not sent twice', async () => {
  const raw = mime(
    ['From: demo@cakemail.test', 'Subject: 250 lost', 'Message-ID: <dedup-4@x.test>'],
    'body\r\n',
  );
  const first = await session();
  const reply = await sendBytes(first.client, DEMO.user, ['r1@example.com'], raw);
  assert.equal(reply.code, 250, reply.text);
  assert.doesNotMatch(reply.text, /already accepted/);
  // What a client that never read its 250 sees: the connection gone, no QUIT.
  const from = e.gw.lines.length;
  first.client.destroy();
  await e.gw.waitForLog((l) => l.event === 'smtp.close' && l.worker === first.worker, 10_000, from);

  const resend = await sessionAvoiding(first.worker);
  const again = await sendBytes(resend.client, DEMO.user, ['r1@example.com'], raw);
  resend.client.end();
  assert.match(again.text, /already accepted earlier for 1 recipient\(s\)/);
  assert.deepEqual(emailsTo(), ['r1@example.com'], 'one email');
});

test('a different message to the same recipients is not mistaken for a retry', async () => {
  const base = ['From: demo@cakemail.test', 'Message-ID: <dedup-2@x.test>'];
  for (const subject of ['version A', 'version B']) {
    const s = await session();
    const reply = await sendBytes(
      s.client,
      DEMO.user,
      RCPTS,
      mime([...base, `Subject: ${subject}`], 'body\r\n'),
    );
    s.client.end();
    assert.equal(reply.code, 250, reply.text);
    assert.doesNotMatch(reply.text, /already accepted/);
  }
  await outboxOf(e.sb, 6);
});

test('ambiguous recipient: 451 4.3.0 partial, and the retry resends it (documented duplicate)', async () => {
  const raw = mime(['From: demo@cakemail.test', 'Subject: ambiguous then retry'], 'body\r\n');
  // r1's first POST is processed (it is in the outbox) but never answered.
  e.sb.setFaults({ dropAfterRequest: true, endpoints: ['emails'], remaining: 1 });
  const first = await session();
  assertReply(
    await sendBytes(first.client, DEMO.user, RCPTS, raw),
    replyLine('partiallyDelivered', { accepted: 2, total: 3 }),
  );
  first.client.end();
  assert.deepEqual(emailsTo().sort(), RCPTS);

  const retry = await session();
  const reply = await sendBytes(retry.client, DEMO.user, RCPTS, raw);
  retry.client.end();
  assert.match(reply.text, /already accepted earlier for 2 recipient\(s\)/);
  const entries = await outboxOf(e.sb, 4);
  assert.deepEqual(entries.map((x) => req(x).email).sort(), ['r1@example.com', ...RCPTS].sort());
});

test('the ledger survives a rolling restart: new workers are seeded from the primary', async () => {
  const raw = mime(
    ['From: demo@cakemail.test', 'Subject: partial, restart, retry', 'Message-ID: <dedup-3@x.test>'],
    'body\r\n',
  );
  e.sb.setFaults({ status: 500, endpoints: ['emails'], remaining: 2 * ATTEMPTS });
  const first = await session();
  assertReply(
    await sendBytes(first.client, DEMO.user, RCPTS, raw),
    replyLine('partiallyDelivered', { accepted: 1, total: 3 }),
  );
  first.client.end();

  // Every worker that saw the record is replaced: only the primary's copy remains.
  const from = e.gw.lines.length;
  e.gw.signal('SIGHUP');
  const oldExits = () =>
    e.gw.lines.slice(from).filter((l) => l.event === 'worker.exit' && l.expected === true).length;
  await e.gw.waitForLog(() => oldExits() >= 2, 30_000, from);

  const retry = await session();
  const reply = await sendBytes(retry.client, DEMO.user, RCPTS, raw);
  retry.client.end();
  assert.match(reply.text, /already accepted earlier for 1 recipient\(s\)/);
  const entries = await outboxOf(e.sb, 3);
  assert.deepEqual(entries.map((x) => req(x).email).sort(), RCPTS);
});
