// The worker's replica of the pod's delivery ledger: local lookups, records batched into
// one notification per batch (50 ms, or the end of the turn when a retry is likely or a
// session ended), seeded from the primary, bounded, expiring.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WorkerToPrimary } from '../../src/ipc/messages.ts';
import { ledgerKey, memoryLedgerKey } from '../../src/delivery/ledger.ts';
import { MemoryStore } from '../../src/primary/pod-state/memory-store.ts';
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

test('keys are kept as 16 bytes of their hash; other strings whole, apart from those', () => {
  const wire = ledgerKey('account-1', 'Rcpt@Example.com', 'digest');
  assert.equal(wire.length, 43);
  const memory = memoryLedgerKey(wire);
  assert.equal(memory.length, 16);
  assert.deepEqual(Buffer.from(memory, 'latin1'), Buffer.from(wire, 'base64url').subarray(0, 16));
  assert.notEqual(memoryLedgerKey(ledgerKey('account-1', 'other@example.com', 'digest')), memory);
  // Not a ledger key: kept whole, behind a character no 16-byte form has.
  assert.equal(memoryLedgerKey('k1'), '\u0100k1');
  const sixteen = memory; // a 16-character string that is not a wire key is not confused with one
  assert.notEqual(memoryLedgerKey(sixteen), memory);
  assert.equal(memoryLedgerKey(`${wire.slice(0, 42)}=`), `\u0100${wire.slice(0, 42)}=`, 'not base64url');
});

test('a replica seeded from the primary store finds the wire keys recorded there, either seed form', async () => {
  const now = 1_000_000_000_000;
  const store = new MemoryStore({ threshold: 0, windowMs: 1, durationMs: 1 }, () => now);
  const keys = Array.from({ length: 50 }, (_, i) => ledgerKey('acct', `r${i}@example.com`, 'd'));
  await store.ledgerRecord(keys.slice(0, 25), 60);
  await store.close();
  const fromStore = new ReplicatedLedger(() => {}, { now: () => now });
  fromStore.seed(store.ledgerEntries(), 'memory');
  assert.deepEqual([...(await fromStore.accepted(keys))], keys.slice(0, 25));
  // A primary from before the memory form seeds wire keys.
  const fromOld = new ReplicatedLedger(() => {}, { now: () => now });
  fromOld.seed(
    keys.slice(0, 25).map((k) => [k, now + 60_000] as const),
    'wire',
  );
  assert.deepEqual([...(await fromOld.accepted(keys))], keys.slice(0, 25));
});

test('claims (keys ending in ~) are kept apart: seen, taken back by TTL 0, expiring, seeded in memory form', async () => {
  let now = 1_000_000;
  const sent: WorkerToPrimary[] = [];
  const ledger = new ReplicatedLedger((m) => sent.push(m), { batchMs: 10, now: () => now });
  const key = ledgerKey('u|', 'a@x.test', 'd');
  const claim = `${key}~`;
  assert.deepEqual([...(await ledger.accepted([key, claim]))], []);
  await ledger.record([claim], 30);
  assert.deepEqual([...(await ledger.accepted([key, claim]))], [claim]);
  assert.equal(ledger.size, 0, 'a claim is no acceptance record');
  await ledger.record([claim], 0);
  assert.deepEqual([...(await ledger.accepted([claim]))], [], 'taken back');
  ledger.apply([claim], 5); // another worker's claim
  assert.deepEqual([...(await ledger.accepted([claim]))], [claim]);
  now += 6_000;
  assert.deepEqual([...(await ledger.accepted([claim]))], [], 'expired: its worker died');
  // The primary seeds claims in memory form (memoryLedgerKey), like every key.
  const store = new MemoryStore({ threshold: 5, windowMs: 60_000, durationMs: 60_000 }, () => now);
  await store.ledgerRecord([claim, key], 60);
  const seeded = new ReplicatedLedger(() => undefined, { now: () => now });
  seeded.seed(store.ledgerEntries(), 'memory');
  assert.deepEqual([...(await seeded.accepted([key, claim]))].sort(), [key, claim].sort());
  await store.close();
  ledger.flush();
  assert.deepEqual(
    sent.map((m) => (m.type === 'ledger.recorded' ? m.ttlSeconds : -1)),
    [30, 0],
    'each claim and its release reach the primary',
  );
});
