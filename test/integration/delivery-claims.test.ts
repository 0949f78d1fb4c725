/**
 * In-flight claims (src/delivery/claims.ts) against the real sandbox: the same message sent
 * again while its first delivery still runs is not sent twice; the client's later retry
 * gets the truth.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MemoryLedger } from '../../src/delivery/ledger.ts';
import { until } from '../helpers/sandbox.ts';
import { DEMO, ctx, metric, type TestSandbox } from './cakemail-helpers.ts';
import { assertReply, mime, refusal, sandboxSuite } from './pipeline-helpers.ts';
import { cakemailEmailsForwardedTotal } from '../../src/metrics/worker-metrics.ts';

/** A MemoryLedger that tells when a claim (a key ending in `~`, TTL > 0) is recorded. */
class WatchedLedger extends MemoryLedger {
  claims = 0;
  override async record(keys: string[], ttlSeconds: number): Promise<void> {
    if (ttlSeconds > 0 && keys.some((k) => k.endsWith('~'))) this.claims++;
    return super.record(keys, ttlSeconds);
  }
}

describe('in-flight claims', () => {
  let t: TestSandbox;
  const newSide = sandboxSuite((sandbox) => (t = sandbox));

  /** Two connections of one client (two sides, one pod ledger); `send` posts the same bytes. */
  async function client(ledger: MemoryLedger, claimAfterMs: number, env: Record<string, string> = {}) {
    const raw = mime({ body: `claims ${randomBytes(4).toString('hex')}` });
    const connection = async () => {
      const side = newSide(env, { ledger, claimAfterMs });
      const account = await side.authenticator.authenticate(DEMO.username, DEMO.password, ctx());
      const sender = await side.pipeline.checkSender(account, DEMO.username, ctx());
      return (rcptTo: string[]) =>
        side.pipeline.deliver({ account, mailFrom: DEMO.username, rcptTo, sender, raw }, ctx());
    };
    return { first: await connection(), second: await connection() };
  }

  test('sent again while the first delivery runs: 451 deliveryInProgress, not sent twice; later: 250', async () => {
    const { first, second } = await client(new MemoryLedger(), 0);
    t.sb.setFaults({ latencyMs: 400, endpoints: ['emails'] });
    const running = first(['a@example.com']);
    await until(() => t.sb.stats().emails === 1, 'the first call on the wire');
    const before = await metric(cakemailEmailsForwardedTotal, { outcome: 'in_progress_elsewhere' });
    assertReply(await refusal(second(['a@example.com'])), 'deliveryInProgress', /^4\.3\.0 /);
    assert.equal(
      (await metric(cakemailEmailsForwardedTotal, { outcome: 'in_progress_elsewhere' })) - before,
      1,
    );
    assert.equal((await running).skippedDuplicates, 0);
    // The client's retry after the 451: the acceptance is in the ledger.
    assert.equal((await second(['a@example.com'])).skippedDuplicates, 1);
    assert.equal(t.sb.stats().emails, 1);
    assert.equal(t.sb.outbox().length, 1);
  });

  test('a first delivery that failed takes its claim back: the retry right after it is sent', async () => {
    const { first, second } = await client(new MemoryLedger(), 0, { DELIVERY_MAX_ATTEMPTS: '1' });
    t.sb.setFaults({ status: 503, endpoints: ['emails'], remaining: 1 });
    assertReply(await refusal(first(['a@example.com'])), 'upstreamUnavailable');
    assert.equal((await second(['a@example.com'])).skippedDuplicates, 0);
    assert.equal(t.sb.outbox().length, 1);
  });

  test('recipients the first delivery is sending are left to it; a new one is sent: 451 partial', async () => {
    const { first, second } = await client(new MemoryLedger(), 0);
    t.sb.setFaults({ latencyMs: 400, endpoints: ['emails'], remaining: 2 });
    const running = first(['a@example.com', 'b@example.com']);
    await until(() => t.sb.stats().emails === 2, 'both calls on the wire');
    const err = await refusal(second(['a@example.com', 'b@example.com', 'c@example.com']));
    assertReply(err, 'partiallyDelivered');
    await running;
    assert.deepEqual(
      t.sb
        .outbox()
        .map((e) => (e.request as { email: string }).email)
        .sort(),
      ['a@example.com', 'b@example.com', 'c@example.com'],
    );
    assert.equal((await second(['a@example.com', 'b@example.com', 'c@example.com'])).skippedDuplicates, 3);
  });

  test('a fast delivery claims nothing; a slow one claims once the sweep finds it', async () => {
    const ledger = new WatchedLedger();
    const { first, second } = await client(ledger, 100);
    await first(['a@example.com']);
    assert.equal(ledger.claims, 0, 'no ledger write for a delivery that ended at once');
    t.sb.setFaults({ latencyMs: 1500, endpoints: ['emails'], remaining: 1 });
    const running = second(['b@example.com']);
    await until(() => ledger.claims === 1, 'the sweep to claim the slow delivery');
    assertReply(await refusal(first(['b@example.com'])), 'deliveryInProgress');
    await running;
    assert.equal(t.sb.outbox().length, 2);
  });
});
