/**
 * `bench/metrics-poller.ts <httpPort>`, forked by bench/measure.ts: GET /metrics every
 * 100 ms (start to start) until told to stop over IPC, then sends the durations (ms) and
 * the failure count. A process of its own, as Prometheus is: polled from the
 * orchestrator (even from a worker thread of it) the p99 read 180-320 ms where curl from
 * another process saw at most 40 ms of the same scrapes: the orchestrator's own
 * synchronous /proc sampling was being measured.
 */
import { setTimeout as sleep } from 'node:timers/promises';

const httpPort = Number(process.argv[2]);
const durations: number[] = [];
let failures = 0;
let stopped = false;
process.once('message', () => {
  stopped = true;
});
// One scrape before the measured ones: the first fetch of a process loads undici (~50 ms).
await fetch(`http://127.0.0.1:${httpPort}/metrics`).then(
  (r) => r.text(),
  () => '',
);
process.send?.({ type: 'up' });

while (!stopped) {
  const t0 = performance.now();
  try {
    const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(5000) });
    await res.text();
    if (!res.ok) failures++;
    else durations.push(performance.now() - t0);
  } catch {
    failures++;
  }
  const wait = 100 - (performance.now() - t0);
  if (wait > 0) await sleep(wait);
}
process.send?.({ type: 'result', durations, failures }, () => process.exit(0));
