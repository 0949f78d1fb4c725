// The worker's replica of the pod's delivery ledger: local lookups, records batched into
// one notification per batch (50 ms, or the end of the turn when a retry is likely or a
// session ended), seeded from the primary, bounded, expiring.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WorkerToPrimary } from '../../src/ipc/messages.ts';
import { ReplicatedLedger } from '../../src/smtp/replicated-ledger.ts';

const turn = () => new Promise((r) => setImmediate(r));

test('records are visible at once and reach the primary in one message per batch', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const sent: WorkerToPrimary[] = [];
  const ledger = new ReplicatedLedger((m) => sent.push(m), { batchMs: 10 });
  await ledger.record(['a'], 60);
  await ledger.record(['b', 'c'], 60);
  assert.deepEqual([...(await ledger.accepted(['a', 'b', 'x']))].sort(), ['a', 'b']);
  await turn();
  t.mock.timers.tick(9);
  assert.equal(sent.length, 0, 'clean deliveries wait for the batch');
  t.mock.timers.tick(1);
  assert.deepEqual(sent, [{ type: 'ledger.recorded', keys: ['a', 'b', 'c'], ttlSeconds: 60 }]);
  t.mock.timers.tick(100);
  assert.equal(sent.length, 1, 'no empty batches');
  await ledger.record(['d'], 60);
  t.mock.timers.tick(10);
  assert.equal(sent.length, 2, 'the next record starts the next batch');
});

test('publishNow(): a likely retry sends the batch at the end of the turn, not later', async () => {
  const sent: WorkerToPrimary[] = [];
  const ledger = new ReplicatedLedger((m) => sent.push(m), { batchMs: 60_000 });
  ledger.publishNow(); // nothing queued: nothing to send
  await ledger.record(['p'], 60);
  ledger.publishNow();
  assert.equal(sent.length, 0, 'not synchronously: the reply is written in the same turn');
  await turn();
  assert.deepEqual(sent, [{ type: 'ledger.recorded', keys: ['p'], ttlSeconds: 60 }]);
  ledger.flush();
  assert.equal(sent.length, 1);
});

test('flush() sends what is queued at once (worker exit)', async () => {
  const sent: WorkerToPrimary[] = [];
  const ledger = new ReplicatedLedger((m) => sent.push(m));
  await ledger.record(['k'], 30);
  ledger.flush();
  assert.deepEqual(sent, [{ type: 'ledger.recorded', keys: ['k'], ttlSeconds: 30 }]);
  await turn();
  assert.equal(sent.length, 1);
});

test('seed and apply fill the replica without sending anything back', async () => {
  const sent: WorkerToPrimary[] = [];
  let now = 1_000_000_000_000;
  const ledger = new ReplicatedLedger((m) => sent.push(m), { now: () => now });
  ledger.seed([
    ['old', now - 1_000],
    ['live', now + 10_000],
  ]);
  ledger.apply(['peer'], 5);
  assert.deepEqual([...(await ledger.accepted(['old', 'live', 'peer', 'none']))].sort(), ['live', 'peer']);
  now += 6_000;
  assert.deepEqual([...(await ledger.accepted(['live', 'peer']))], ['live'], 'peer expired after its TTL');
  await turn();
  assert.equal(sent.length, 0);
});

test('bounded: the oldest entries go first', async () => {
  const ledger = new ReplicatedLedger(() => {}, { maxEntries: 3 });
  ledger.apply(['1', '2', '3', '4'], 60);
  assert.equal(ledger.size, 3);
  assert.deepEqual([...(await ledger.accepted(['1', '2', '3', '4']))], ['2', '3', '4']);
});
