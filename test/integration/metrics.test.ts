// /metrics aggregated over real workers: sums, a hung worker, restarts never make counters go backwards.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { sample } from '../helpers/metrics.ts';
import { SmtpTestClient } from '../helpers/smtp-client.ts';

test('/metrics sums connections across workers, survives a hung worker, stays monotonic across a kill -9', async () => {
  const gw = await startGateway({ env: { METRICS_WORKER_TIMEOUT_MS: '500' } });
  try {
    const clients = [];
    for (let i = 0; i < 6; i++) clients.push((await SmtpTestClient.connect(gw.smtpPort)).client);
    await gw.waitForLog(() => gw.lines.filter((l) => l.event === 'smtp.connect').length >= 6);
    const perWorker = new Set(gw.lines.filter((l) => l.event === 'smtp.connect').map((l) => l.worker));
    assert.equal(perWorker.size, 2);
    let text = (await gw.http('/metrics')).body;
    assert.equal(sample(text, 'smtp_connections_total', { status: 'accepted' }), 6);
    assert.equal(sample(text, 'smtp_active_connections'), 6);
    assert.equal(sample(text, 'gateway_workers', { state: 'listening' }), 2);
    for (const c of clients) c.end();

    // A hung worker (SIGSTOP) must not fail or stall the scrape.
    const workerPids = gw.lines
      .filter((l) => l.event === 'worker.listening' && l.role === 'worker')
      .map((l) => l.pid as number);
    process.kill(workerPids[0]!, 'SIGSTOP');
    try {
      const started = Date.now();
      const res = await gw.http('/metrics');
      assert.equal(res.status, 200);
      assert.ok(Date.now() - started < 2000, 'scrape answered within 2 s');
      assert.equal(
        sample(res.body, 'smtp_connections_total', { status: 'accepted' }),
        6,
        'the hung worker is represented by its last answer',
      );
      assert.ok((sample(res.body, 'gateway_metrics_worker_timeouts_total') ?? 0) >= 1);
    } finally {
      process.kill(workerPids[0]!, 'SIGCONT');
    }

    // kill -9: the dead worker's counts stay in the total.
    text = (await gw.http('/metrics')).body;
    const beforeKill = sample(text, 'smtp_connections_total', { status: 'accepted' })!;
    const mark = gw.lines.length;
    process.kill(workerPids[1]!, 'SIGKILL');
    await gw.waitForLog((l) => l.event === 'worker.listening' && l.role === 'primary', 15_000, mark);
    text = (await gw.http('/metrics')).body;
    assert.ok(sample(text, 'smtp_connections_total', { status: 'accepted' })! >= beforeKill);
  } finally {
    await gw.stop();
  }
});

test('a busy worker does not hold up a scrape: its numbers of the last second stand in (METRICS_MAX_STALENESS_MS)', async () => {
  const gw = await startGateway({
    env: { METRICS_MAX_STALENESS_MS: '60000', METRICS_WORKER_TIMEOUT_MS: '5000' },
  });
  try {
    const clients = [];
    for (let i = 0; i < 4; i++) clients.push((await SmtpTestClient.connect(gw.smtpPort)).client);
    await gw.waitForLog(() => gw.lines.filter((l) => l.event === 'smtp.connect').length >= 4);
    // A scrape with every worker answering: fresh numbers, and the last numbers of each.
    assert.equal(sample((await gw.http('/metrics')).body, 'smtp_active_connections'), 4);
    for (const c of clients) c.end();
    const workerPids = gw.lines
      .filter((l) => l.event === 'worker.listening' && l.role === 'worker')
      .map((l) => l.pid as number);
    process.kill(workerPids[0]!, 'SIGSTOP'); // as busy as a worker can be
    try {
      const started = performance.now();
      const res = await gw.http('/metrics');
      const ms = performance.now() - started;
      assert.equal(res.status, 200);
      // Far below METRICS_WORKER_TIMEOUT_MS (5 s): the stopped worker was not waited for.
      assert.ok(ms < 2_500, `scrape took ${ms.toFixed(0)} ms`);
      assert.equal(
        sample(res.body, 'smtp_connections_total', { status: 'accepted' }),
        4,
        'the stopped worker is represented by its numbers of the previous scrape',
      );
      assert.equal(sample(res.body, 'gateway_metrics_worker_timeouts_total') ?? 0, 0, 'no timeout counted');
    } finally {
      process.kill(workerPids[0]!, 'SIGCONT');
    }
  } finally {
    await gw.stop();
  }
});

test(
  'our own metrics pass promtool check metrics; no label carries an address or a username',
  { skip: !existsSync('/usr/bin/promtool') && 'promtool not installed' },
  async () => {
    const gw = await startGateway();
    try {
      const { client } = await SmtpTestClient.connect(gw.smtpPort);
      await client.login('user@test.example', 'wrong-password');
      client.end();
      await gw.waitForLog((l) => l.event === 'smtp.auth');
      const text = (await gw.http('/metrics')).body;
      // prom-client's default nodejs_active_* gauges end in _total and are rejected by name (FIELD-NOTES): not ours.
      const ours = text
        .split('\n')
        .filter((l) => !/nodejs_active_|gateway_primary_nodejs_active_/.test(l))
        .join('\n');
      const out = execFileSync('/usr/bin/promtool', ['check', 'metrics'], { input: ours, encoding: 'utf8' });
      assert.equal(out.trim(), '');
      assert.doesNotMatch(text, /127\.0\.0\.1|user@test\.example|@/);
    } finally {
      await gw.stop();
    }
  },
);
