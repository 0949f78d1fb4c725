// UpstreamClock: the wall time a message waits on Cakemail, parallel calls counted once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UpstreamClock } from '../../src/delivery/upstream-clock.ts';

function deferred() {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

test('overlapping calls count once, sequential ones add up, failures count too', async () => {
  let now = 1_000;
  const clock = new UpstreamClock(() => now);
  const a = deferred();
  const b = deferred();
  const pa = clock.track(() => a.promise);
  now += 10;
  const pb = clock.track(() => b.promise);
  now += 30;
  a.resolve();
  await pa;
  now += 20;
  assert.equal(clock.seconds, 0.06, 'one call still in flight counts up to now');
  b.reject(new Error('503'));
  await assert.rejects(pb, /503/);
  now += 100; // nothing in flight: not counted
  const c = deferred();
  const pc = clock.track(() => c.promise);
  now += 5;
  c.resolve();
  await pc;
  assert.equal(clock.seconds, 0.065);
});

test('a call that throws synchronously is not left in flight', () => {
  let now = 0;
  const clock = new UpstreamClock(() => now);
  assert.throws(() =>
    clock.track(() => {
      throw new Error('sync');
    }),
  );
  now += 50;
  assert.equal(clock.seconds, 0);
});
