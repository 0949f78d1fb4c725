// Pod-wide state in the primary: token-bucket rate, lockout window, ledger TTL, connection table.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectionTable } from '../../src/primary/admission.ts';
import { MemoryStore } from '../../src/primary/pod-state/memory-store.ts';
import { memoryLedgerKey } from '../../src/delivery/ledger.ts';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test('rate: a bucket of RATE_LIMIT_PER_IP per minute, refilled continuously, per IP', async () => {
  const c = clock();
  const store = new MemoryStore({ threshold: 5, windowMs: 300_000, durationMs: 900_000 }, c.now);
  for (let i = 0; i < 3; i++) assert.equal(await store.consumeRate('a', 3), true);
  assert.equal(await store.consumeRate('a', 3), false);
  assert.equal(await store.consumeRate('b', 3), true, 'another IP has its own budget');
  c.advance(20_000); // 3 per minute: one token every 20 s
  assert.equal(await store.consumeRate('a', 3), true);
  assert.equal(await store.consumeRate('a', 3), false);
  await store.close();
});

test('lockout: threshold failures within the window lock the IP for the duration', async () => {
  const c = clock();
  const store = new MemoryStore({ threshold: 3, windowMs: 60_000, durationMs: 120_000 }, c.now);
  let locked = 0;
  store.onLockout = () => locked++;
  assert.equal(await store.recordAuthFailure('x'), false);
  assert.equal(await store.recordAuthFailure('x'), false);
  c.advance(61_000); // the window passed: counting starts again
  assert.equal(await store.recordAuthFailure('x'), false);
  assert.equal(await store.recordAuthFailure('x'), false);
  assert.equal(await store.recordAuthFailure('x'), true);
  assert.equal(locked, 1);
  assert.equal(await store.isLockedOut('x'), true);
  assert.equal(await store.isLockedOut('y'), false);
  c.advance(120_001);
  assert.equal(await store.isLockedOut('x'), false);
  await store.close();
});

test('ledger: keys are remembered for their TTL, then forgotten and swept', async () => {
  const c = clock();
  const store = new MemoryStore({ threshold: 0, windowMs: 1, durationMs: 1 }, c.now);
  await store.ledgerRecord(['k1', 'k2'], 10);
  assert.deepEqual(await store.ledgerAccepted(['k1', 'k3', 'k2']), ['k1', 'k2']);
  c.advance(10_001);
  assert.deepEqual(await store.ledgerAccepted(['k1', 'k2']), []);
  store.sweep();
  await store.close();
});

test('ledger: DEDUP_MAX_ENTRIES bounds it, the oldest go first; entries seed replicas with ms expiries', async () => {
  const c = clock();
  const store = new MemoryStore({ threshold: 0, windowMs: 1, durationMs: 1 }, c.now, 3);
  await store.ledgerRecord(['k1', 'k2', 'k3'], 60);
  await store.ledgerRecord(['k1'], 60); // re-recorded: now the newest
  await store.ledgerRecord(['k4'], 60);
  assert.deepEqual(await store.ledgerAccepted(['k1', 'k2', 'k3', 'k4']), ['k1', 'k3', 'k4']);
  assert.deepEqual(
    store.ledgerEntries().map(([k]) => k),
    ['k3', 'k1', 'k4'].map(memoryLedgerKey),
    'oldest first, in the form the store keeps them',
  );
  // Whole seconds inside the store; the replica's seed takes epoch ms.
  for (const [, expiresAt] of store.ledgerEntries()) assert.equal(expiresAt, (1_000 + 60) * 1000);
  c.advance(60_001);
  store.sweep();
  assert.deepEqual(store.ledgerEntries(), [], 'swept once expired');
  await store.close();
});

test('connection table: per-IP and per-pod limits across workers; a dead worker releases its connections', () => {
  const table = new ConnectionTable({ maxPerPod: 3, maxPerIp: 2, isTrusted: (ip) => ip === 't' });
  assert.equal(table.open(1, 'a', false), 'ok');
  assert.equal(table.open(2, 'a', false), 'ok');
  assert.equal(table.open(2, 'a', false), 'ip_limit', 'two workers, one count');
  assert.equal(table.open(1, 'b', true), 'locked_out');
  assert.equal(table.open(1, 't', true), 'ok', 'trusted networks bypass per-IP limits and lockout');
  assert.equal(table.open(1, 't', false), 'pod_limit', 'but not the pod limit');
  table.releaseWorker(2);
  assert.equal(table.total, 2);
  assert.equal(table.open(1, 'a', false), 'ok');
  table.close(1, 'a');
  table.close(1, 'a');
  table.close(1, 'a'); // more closes than opens on that worker: ignored
  assert.equal(table.total, 1);
  table.draining = true;
  assert.equal(table.open(1, 'z', false), 'draining');
});
