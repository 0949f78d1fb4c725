// FastHistogram must record exactly what prom-client's Histogram records: the same get()
// for any observations, label sets, resets and refusals.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { FastHistogram } from '../../src/metrics/fast-histogram.ts';

const BUCKETS = [0.001, 0.005, 0.01, 0.5, 2];

function pair(labelNames: string[]) {
  const registry = new Registry();
  const config = { help: 'h', buckets: BUCKETS, labelNames, registers: [registry] };
  return {
    slow: new Histogram({ ...config, name: 'slow' }),
    fast: new FastHistogram({ ...config, name: 'fast' }),
  };
}

async function same(slow: Histogram, fast: Histogram): Promise<void> {
  const strip = (m: Awaited<ReturnType<Histogram['get']>>) =>
    m.values.map((v) => ({ ...v, metricName: v.metricName?.replace(/^fast|^slow/, '') }));
  assert.deepEqual(strip(await fast.get()), strip(await slow.get()));
}

const value = fc.oneof(
  fc.constantFrom(...BUCKETS, 0, -1, 3, 1e9),
  fc.double({ min: -1, max: 3, noNaN: true }),
);

test('property: unlabelled observations and resets record what prom-client records', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.oneof(value, fc.constant('reset' as const)), { maxLength: 60 }),
      async (ops) => {
        const { slow, fast } = pair([]);
        for (const op of ops) {
          if (op === 'reset') {
            slow.reset();
            fast.reset();
          } else {
            slow.observe(op);
            fast.observe(op);
          }
        }
        await same(slow, fast);
      },
    ),
    { numRuns: 300 },
  );
});

test('property: labelled observations record what prom-client records', async () => {
  const labels = fc.record(
    { endpoint: fc.constantFrom('emails', 'token', 'x:y,'), outcome: fc.constantFrom('ok', 'timeout', 7) },
    { requiredKeys: [] },
  );
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(labels, value), { maxLength: 60 }), async (ops) => {
      const { slow, fast } = pair(['outcome', 'endpoint']);
      for (const [l, v] of ops) {
        slow.observe(l, v);
        fast.observe(l, v);
      }
      await same(slow, fast);
      // prom-client's path only for each label set's first observation.
      assert.equal(fast.slowPathObservations, new Set(ops.map(([l]) => `${l.endpoint}|${l.outcome}`)).size);
    }),
    { numRuns: 300 },
  );
});

test('a value prom-client refuses is refused alike, and records nothing', async () => {
  const { slow, fast } = pair([]);
  slow.observe(0.002);
  fast.observe(0.002);
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => slow.observe(bad), TypeError);
    assert.throws(() => fast.observe(bad), TypeError);
  }
  await same(slow, fast);
});
