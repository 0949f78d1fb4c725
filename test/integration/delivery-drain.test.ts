/**
 * The pipeline at a worker's drain's end (MailPipeline.stopCalls, src/smtp/drain.ts), against
 * the real sandbox: no call starts any more, a call already on the wire is never cut.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { until } from '../helpers/sandbox.ts';
import { DEMO, ctx, type TestSandbox } from './cakemail-helpers.ts';
import { assertReply, mime, refusal, sandboxSuite } from './pipeline-helpers.ts';

describe('delivery at the drain deadline', () => {
  let t: TestSandbox;
  const newSide = sandboxSuite((sandbox) => (t = sandbox));

  /** A Cakemail side with a logged-in session; `send` delivers to `rcptTo`. */
  async function session(env: Record<string, string> = {}) {
    const side = newSide(env);
    const account = await side.authenticator.authenticate(DEMO.username, DEMO.password, ctx());
    const sender = await side.pipeline.checkSender(account, DEMO.username, ctx());
    const send = (rcptTo: string[]) =>
      side.pipeline.deliver({ account, mailFrom: DEMO.username, rcptTo, sender, raw: mime() }, ctx());
    return { pipeline: side.pipeline, send };
  }

  test('after stopCalls a new message is refused with 421 and nothing is sent', async () => {
    const { pipeline, send } = await session();
    pipeline.stopCalls?.();
    assertReply(await refusal(send(['a@example.com'])), 'shuttingDown', /^4\.3\.2 /);
    assert.equal(t.sb.stats().emails, 0);
  });

  test('a call on the wire at stopCalls completes: its 250 stands', async () => {
    const { pipeline, send } = await session();
    t.sb.setFaults({ latencyMs: 300, endpoints: ['emails'] });
    const delivery = send(['a@example.com']);
    await until(() => t.sb.stats().emails === 1, 'the call on the wire');
    pipeline.stopCalls?.();
    const receipt = await delivery;
    assert.equal(receipt.skippedDuplicates, 0);
    assert.equal(t.sb.outbox().length, 1);
  });

  test('a retry waiting in its backoff at stopCalls is not made: 451, one call only', async () => {
    const { pipeline, send } = await session({ DELIVERY_RETRY_BASE_MS: '1000' });
    t.sb.setFaults({ status: 503, endpoints: ['emails'] });
    const delivery = send(['a@example.com']);
    await until(() => t.sb.stats().faulted === 1, 'the first attempt refused');
    pipeline.stopCalls?.();
    const err = await refusal(delivery);
    assert.equal(err.responseCode, 451);
    assert.equal(t.sb.stats().emails, 1, 'no retry after stopCalls');
    assert.equal(t.sb.outbox().length, 0);
  });

  test('recipients not yet tried at stopCalls are not tried: 451 for them, the accepted one kept', async () => {
    // One at a time: the first recipient's call is slow and on the wire when the drain ends.
    const { pipeline, send } = await session({ DELIVERY_CONCURRENCY: '1' });
    t.sb.setFaults({ latencyMs: 300, endpoints: ['emails'], remaining: 1 });
    const delivery = send(['a@example.com', 'b@example.com', 'c@example.com']);
    await until(() => t.sb.stats().emails === 1, 'the first call on the wire');
    pipeline.stopCalls?.();
    const err = await refusal(delivery);
    assert.equal(err.responseCode, 451);
    assert.equal(t.sb.stats().emails, 1);
    assert.deepEqual(
      t.sb.outbox().map((e) => (e.request as { email: string }).email),
      ['a@example.com'],
    );
  });
});
