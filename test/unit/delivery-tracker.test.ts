// DeliveryTracker (src/smtp/drain.ts): which sessions have a delivery under way, and the
// order in which the drain closes a session after its delivery's reply.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { DeliveryTracker } from '../../src/smtp/drain.ts';
import type {
  DeliveryReceipt,
  IncomingMessage,
  MailPipeline,
  SessionContext,
} from '../../src/smtp/contracts.ts';

const log = pino({ level: 'silent' });
const ctx = (sessionId: string): SessionContext => ({ sessionId, remoteAddress: '127.0.0.1', log });
const message = {} as IncomingMessage;

/** A pipeline whose deliveries end when the test says so. */
function manualPipeline() {
  const pending: { resolve(r: DeliveryReceipt): void; reject(e: Error): void }[] = [];
  let stopped = 0;
  const pipeline: MailPipeline = {
    checkSender: () => Promise.reject(new Error('unused')),
    deliver: () => new Promise((resolve, reject) => pending.push({ resolve, reject })),
    stopCalls: () => void stopped++,
  };
  return { pipeline, pending, stopped: () => stopped };
}

test('counts deliveries per session, success or failure, and resolves idle() at zero', async () => {
  const { pipeline, pending } = manualPipeline();
  const tracker = new DeliveryTracker();
  const tracked = tracker.track(pipeline);
  const a1 = tracked.deliver(message, ctx('a'));
  const a2 = tracked.deliver(message, ctx('a'));
  const b = tracked.deliver(message, ctx('b'));
  assert.equal(tracker.size, 3);
  assert.ok(tracker.busy('a') && tracker.busy('b') && !tracker.busy('c'));
  let idle = false;
  void tracker.idle().then(() => (idle = true));
  pending[0]!.resolve({ queueId: 'Q1', skippedDuplicates: 0 });
  await a1;
  assert.ok(tracker.busy('a'), 'one of its two deliveries still runs');
  pending[1]!.reject(new Error('451'));
  await assert.rejects(a2, /451/);
  assert.ok(!tracker.busy('a'));
  assert.equal(idle, false);
  pending[2]!.resolve({ queueId: 'Q2', skippedDuplicates: 0 });
  await b;
  await tracker.idle();
  assert.equal(idle, true);
  assert.equal(tracker.size, 0);
});

test('whenSessionIdle runs after the callbacks that answer the client, at once for an idle session', async () => {
  const { pipeline, pending } = manualPipeline();
  const tracker = new DeliveryTracker();
  const tracked = tracker.track(pipeline);
  const order: string[] = [];
  // The session hooks answer in a callback on the delivery's promise (session-hooks.ts).
  const delivery = tracked.deliver(message, ctx('s')).then(() => order.push('reply'));
  tracker.whenSessionIdle('s', () => order.push('close'));
  tracker.whenSessionIdle('idle', () => order.push('close idle'));
  assert.deepEqual(order, ['close idle']);
  pending[0]!.resolve({ queueId: 'Q', skippedDuplicates: 0 });
  await delivery;
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['close idle', 'reply', 'close']);
});

test('stopCalls reaches the pipeline through the tracker', () => {
  const { pipeline, stopped } = manualPipeline();
  new DeliveryTracker().track(pipeline).stopCalls?.();
  assert.equal(stopped(), 1);
});
