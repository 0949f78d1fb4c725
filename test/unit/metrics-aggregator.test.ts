// MetricsAggregator without processes: a departed worker's numbers count once, even when
// its last snapshot or a late answer arrives after it was retired.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { MetricsAggregator, type MetricsWorker } from '../../src/primary/http/metrics-aggregator.ts';

async function snapshotOf(value: number) {
  const registry = new Registry();
  new Counter({ name: 'smtp_connections_total', help: 'x', registers: [registry] }).inc(value);
  return registry.getMetricsAsJSON();
}

test('a retired worker is summed once; late numbers from it are ignored', async () => {
  const live: MetricsWorker[] = [];
  const aggregator = new MetricsAggregator({ workers: () => live }, 1000);
  const total = async () =>
    Number(/^smtp_connections_total (\S+)$/m.exec((await aggregator.render()).body)?.[1]);
  aggregator.offer(1, await snapshotOf(5));
  aggregator.offer(2, await snapshotOf(3));
  assert.equal(await total(), 8);
  aggregator.retire(1);
  assert.equal(await total(), 8, 'retired counts stay in the total');
  aggregator.offer(1, await snapshotOf(6)); // e.g. its periodic snapshot, in flight when it exited
  assert.equal(await total(), 8, 'not counted a second time');
  live.push({ id: 2, requestMetrics: async () => snapshotOf(4) });
  assert.equal(await total(), 9, 'live workers are asked at each scrape');
});
