// The workers' process metrics: prom-client's names, none whose cost grows with open
// connections, event-loop gauges that read 0 (not 2^63 ns) when nothing was sampled.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { registerProcessMetrics } from '../../src/metrics/process-metrics.ts';

test('the kept process metrics, and none that walks handles or /proc/self/fd', async () => {
  const registry = new Registry();
  registerProcessMetrics(registry);
  const text = await registry.metrics();
  const names = new Set(text.split('\n').flatMap((l) => (/^([a-z0-9_]+)[ {]/.exec(l) ?? []).slice(1)));
  for (const n of [
    'process_cpu_seconds_total',
    'process_cpu_user_seconds_total',
    'process_resident_memory_bytes',
    'process_start_time_seconds',
    'nodejs_heap_size_used_bytes',
    'nodejs_eventloop_lag_p99_seconds',
    'nodejs_version_info',
  ])
    assert.ok(names.has(n), n);
  for (const n of [
    'process_open_fds',
    'nodejs_active_handles',
    'nodejs_active_resources',
    'nodejs_active_requests',
  ])
    assert.ok(![...names].some((x) => x.startsWith(n)), `${n} must not be collected`);
  const rss = Number(/^process_resident_memory_bytes (\d+)/m.exec(text)?.[1]);
  assert.ok(rss > 10 * 2 ** 20, `rss ${rss}`);
  for (const m of text.matchAll(/^nodejs_eventloop_lag_\w+_seconds (\S+)$/gm))
    assert.ok(Number(m[1]) >= 0 && Number(m[1]) < 60, `event-loop gauge ${m[0]}`);
});

test('CPU counters only go up between scrapes', async () => {
  const registry = new Registry();
  registerProcessMetrics(registry);
  const cpu = async () => Number(/^process_cpu_seconds_total (\S+)$/m.exec(await registry.metrics())?.[1]);
  const first = await cpu();
  let x = 0;
  for (let i = 0; i < 2e6; i++) x += i % 7; // burn a little CPU
  assert.ok(x > 0);
  assert.ok((await cpu()) >= first);
});
