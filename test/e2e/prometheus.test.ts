// A real Prometheus scraping the real gateway's /metrics every second: it sees exactly the
// connections made, and when a worker is killed with -9 the aggregated counters do not go
// back (no decrease in the stored series, resets() == 0) while its replacement counts on.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { test } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import {
  HAVE_PROMETHEUS,
  PROMETHEUS_BIN,
  startPrometheus,
  type RunningPrometheus,
} from '../helpers/prometheus.ts';
import { SmtpTestClient } from '../helpers/smtp-client.ts';

const skip = HAVE_PROMETHEUS ? false : `${PROMETHEUS_BIN} is not installed (Debian package prometheus)`;
const ACCEPTED = 'sum(smtp_connections_total{status="accepted"})';

async function connections(gw: RunningGateway, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const { client, banner } = await SmtpTestClient.connect(gw.smtpPort);
    assert.equal(banner.code, 220, banner.text);
    assert.equal((await client.command('QUIT')).code, 221);
    await client.closedPromise();
  }
}

const isValue = (n: number) => (r: { value: number }[]) => r.length === 1 && r[0]?.value === n;

test(
  'Prometheus: counts every connection; a worker killed with -9 never makes a counter go back',
  { skip, timeout: 60_000 },
  async () => {
    let gw: RunningGateway | undefined;
    let prom: RunningPrometheus | undefined;
    try {
      gw = await startGateway();
      prom = await startPrometheus({ targets: [`127.0.0.1:${gw.httpPort}`] });
      await prom.waitForTargetsUp();
      const start = Math.floor(Date.now() / 1000) - 1;

      const N = 6;
      await connections(gw, N);
      await prom.until(ACCEPTED, isValue(N), `${N} accepted connections`);
      await prom.until('smtp_connections_total', (r) => r.length > 0, 'the raw series');

      // The victim: the slot that served the most of those connections (so it had counted some).
      const perSlot = new Map<number, number>();
      for (const l of gw.lines.filter((x) => x.event === 'smtp.connect'))
        perSlot.set(l.worker as number, (perSlot.get(l.worker as number) ?? 0) + 1);
      const [victimSlot, served] = [...perSlot].sort((a, b) => b[1] - a[1])[0]!;
      assert.ok(served > 0);
      const victim = gw.lines.findLast(
        (l) => l.event === 'worker.listening' && l.role === 'worker' && l.worker === victimSlot,
      );
      assert.ok(victim, 'the victim logged its pid');
      const mark = gw.lines.length;
      const killedAt = Date.now() / 1000;
      process.kill(victim.pid as number, 'SIGKILL');
      await gw.waitForLog((l) => l.event === 'worker.exit' && l.expected === false, 10_000, mark);
      await gw.waitForLog(
        (l) => l.event === 'worker.listening' && l.role === 'primary' && l.slot === victimSlot,
        15_000,
        mark,
      );

      const M = 4;
      await connections(gw, M);
      await prom.until(ACCEPTED, isValue(N + M), `${N + M} accepted connections after the kill`);
      const end = Math.ceil(Date.now() / 1000) + 1;

      // The stored history across the kill: every sample Prometheus took, never a decrease.
      const raw = await prom.samples('smtp_connections_total', '5m');
      assert.ok(raw.length > 0, 'raw series stored');
      for (const series of raw)
        for (let i = 1; i < series.values.length; i++)
          assert.ok(
            series.values[i]![1] >= series.values[i - 1]![1],
            `${JSON.stringify(series.metric)} decreased: ${JSON.stringify(series.values)}`,
          );
      const accepted = raw.find((r) => r.metric.status === 'accepted');
      assert.ok(accepted, 'the accepted series');
      assert.ok(
        accepted.values.some(([t, v]) => t < killedAt && v === N) &&
          accepted.values.some(([t, v]) => t > killedAt && v === N + M),
        `samples on both sides of the kill (${killedAt}): ${JSON.stringify(accepted.values)}`,
      );
      // And as a query over time (what a graph shows), at a step finer than the scrape interval.
      const [sum] = await prom.queryRange(ACCEPTED, start, end, 0.25);
      assert.ok(sum, 'a range for the sum');
      for (let i = 1; i < sum.values.length; i++)
        assert.ok(
          sum.values[i]![1] >= sum.values[i - 1]![1],
          `sum decreased at ${sum.values[i]![0]}: ${JSON.stringify(sum.values)}`,
        );
      assert.equal(sum.values.at(-1)![1], N + M);

      // Prometheus' own view: no counter reset, and the increase covers what was made.
      const resets = await prom.query('resets(smtp_connections_total[5m])');
      assert.ok(resets.length > 0, 'resets() has a series to look at');
      for (const r of resets) assert.equal(r.value, 0, `resets of ${JSON.stringify(r.metric)}`);
      const increase = await prom.query('sum(increase(smtp_connections_total{status="accepted"}[1m]))');
      assert.ok((increase[0]?.value ?? 0) >= M, `increase: ${JSON.stringify(increase)}`);
    } finally {
      await prom?.stop();
      if (gw) {
        await gw.stop();
        await rm(gw.dataDir, { recursive: true, force: true });
      }
    }
  },
);
