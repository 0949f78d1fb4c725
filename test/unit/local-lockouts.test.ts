// The worker's copy of the pod's AUTH lockouts: seeded, fed by lockout.started, expiring.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStore } from '../../src/primary/pod-state/memory-store.ts';
import { LocalLockouts } from '../../src/smtp/local-lockouts.ts';

test('seeded and added lockouts hold until their end, then go', () => {
  let now = 1_000_000;
  const l = new LocalLockouts([['192.0.2.1', now + 5_000]], () => now);
  l.add('192.0.2.2', now + 10_000);
  l.add('192.0.2.2', now + 1_000); // an older notice never shortens a lockout
  assert.equal(l.isLockedOut('192.0.2.1'), true);
  assert.equal(l.isLockedOut('192.0.2.2'), true);
  assert.equal(l.isLockedOut('192.0.2.3'), false);
  now += 5_000;
  assert.equal(l.isLockedOut('192.0.2.1'), false, 'ended');
  assert.equal(l.isLockedOut('192.0.2.2'), true);
  assert.equal(l.size, 1, 'the ended one was dropped');
});

test('the memory store announces each lockout once, with its end, and lists the active ones', async () => {
  let now = 5_000_000;
  const store = new MemoryStore({ threshold: 3, windowMs: 60_000, durationMs: 30_000 }, () => now);
  const announced: Array<[string, number]> = [];
  store.onLockout = (ip, until) => announced.push([ip, until]);
  for (let i = 0; i < 5; i++) await store.recordAuthFailure('198.51.100.7');
  assert.deepEqual(announced, [['198.51.100.7', now + 30_000]]);
  assert.deepEqual(store.activeLockouts(), [['198.51.100.7', now + 30_000]]);
  const worker = new LocalLockouts(store.activeLockouts(), () => now);
  assert.equal(worker.isLockedOut('198.51.100.7'), true);
  now += 30_000;
  assert.deepEqual(store.activeLockouts(), []);
  assert.equal(worker.isLockedOut('198.51.100.7'), false);
});
