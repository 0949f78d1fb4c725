/**
 * Deadlines and lost answers that must not turn into `ambiguous` ("it may have been sent")
 * when no email can have been sent by the call: a request that waited for a pool
 * connection, and the /token and senders calls (no side effect a retry could double). A
 * refresh that loses its answer during a delivery: delivery-token-expiry.test.ts.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CakemailError, isRetryable } from '../../src/cakemail/errors.ts';
import type { SubmitEmail } from '../../src/cakemail/types.ts';
import { DEMO, makeClient, startTestSandbox, type TestSandbox } from './cakemail-helpers.ts';

const email = (to: string): SubmitEmail => ({
  email: to,
  sender: { id: 'snd-1001-demo' },
  content: { subject: 'Hello', text: 'Hi', type: 'transactional', encoding: 'utf-8' },
});

async function kindOf(p: Promise<unknown>): Promise<CakemailError | null> {
  try {
    await p;
    return null;
  } catch (err) {
    assert.ok(err instanceof CakemailError, `expected CakemailError, got ${String(err)}`);
    return err;
  }
}

describe('Cakemail call deadlines', () => {
  let t: TestSandbox;
  let token: string;

  before(async () => {
    t = await startTestSandbox();
    const c = makeClient(t.sb.url);
    token = (await c.passwordGrant(DEMO.username, DEMO.password)).access_token;
    await c.close();
  });
  after(async () => {
    await t.stop();
  });
  beforeEach(() => {
    t.sb.setFaults(null);
    t.sb.resetStats();
    t.sb.clearOutbox();
  });

  test('a call that waited for a connection is not written with too little of its deadline left', async () => {
    // One connection; the API takes 250 ms a call, well inside the 400 ms deadline. The
    // second call waits ~250 ms for the connection: written then, it would be cut short
    // 150 ms later while Cakemail is still working on it (an avoidable `ambiguous`: the
    // email is sent, the client is told "no answer" and sends it again).
    const one = makeClient(t.sb.url, { connections: 1, timeoutMs: 400 });
    try {
      t.sb.setFaults({ latencyMs: 250, endpoints: ['emails'], remaining: 2 });
      const [first, second] = await Promise.all([
        kindOf(one.submitEmail(token, email('first@example.com'))),
        kindOf(one.submitEmail(token, email('second@example.com'))),
      ]);
      assert.equal(first, null);
      assert.notEqual(second?.kind, 'ambiguous', 'the second call was cut short after it was written');
      t.sb.setFaults(null);
      // FIFO on one connection: once this third call is answered, the second was written or dropped.
      await one.submitEmail(token, email('third@example.com'));
      const sent = t.sb.outbox().map((e) => (e.request as { email: string }).email);
      if (second === null) assert.ok(sent.includes('second@example.com'));
      else {
        assert.equal(second.kind, 'timeout');
        assert.ok(!sent.includes('second@example.com'), 'a `timeout` call must never have been sent');
      }
    } finally {
      await one.close();
    }
  });

  test('a lost answer of /token or senders is retryable, never `ambiguous` (no email was sent)', async () => {
    const c = makeClient(t.sb.url);
    try {
      const tok = await c.passwordGrant(DEMO.username, DEMO.password);
      t.sb.setFaults({ dropAfterRequest: true, endpoints: ['token'], remaining: 1 });
      const refresh = await kindOf(c.refreshGrant(tok.refresh_token));
      assert.ok(refresh && isRetryable(refresh), `refresh: ${refresh?.kind}`);
      t.sb.setFaults({ dropAfterRequest: true, endpoints: ['senders'], remaining: 1 });
      const senders = await kindOf(c.listSenders(tok.access_token));
      assert.ok(senders && isRetryable(senders), `senders: ${senders?.kind}`);
    } finally {
      await c.close();
    }
  });
});
