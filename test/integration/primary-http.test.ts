// The primary's own numbers and HTTP port across a worker's death and a shutdown, with real
// processes: what /metrics says matches the primary's tables; stopping never waits on an
// HTTP client.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { sample } from '../helpers/metrics.ts';
import { SmtpTestClient } from '../helpers/smtp-client.ts';

test('kill -9 of a worker: gateway_pod_connections drops its connections at once, as admission does', async () => {
  const gw = await startGateway();
  try {
    const clients = [];
    for (let i = 0; i < 4; i++) clients.push((await SmtpTestClient.connect(gw.smtpPort)).client);
    await gw.waitForLog(() => gw.lines.filter((l) => l.event === 'smtp.connect').length >= 4);
    assert.equal(sample((await gw.http('/metrics')).body, 'gateway_pod_connections'), 4);
    const connects = gw.lines.filter((l) => l.event === 'smtp.connect');
    const victim = gw.lines.find(
      (l) => l.event === 'worker.listening' && l.role === 'worker' && l.worker === connects[0]!.worker,
    )!;
    const lost = connects.filter((l) => l.worker === victim.worker).length;
    const mark = gw.lines.length;
    process.kill(victim.pid as number, 'SIGKILL');
    await gw.waitForLog(
      (l) => l.event === 'worker.listening' && l.role === 'primary' && l.slot === victim.worker,
      15_000,
      mark,
    );
    const status = (await gw.http('/status.json')).json() as { connections: number };
    assert.equal(status.connections, 4 - lost, 'admission released them');
    assert.equal(
      sample((await gw.http('/metrics')).body, 'gateway_pod_connections'),
      4 - lost,
      'the gauge says the same',
    );
    for (const c of clients) c.destroy();
  } finally {
    await gw.stop();
  }
});

test('SIGTERM exits even while an HTTP client holds a request half sent', async () => {
  const gw = await startGateway();
  const socket = connect(gw.httpPort, '127.0.0.1');
  socket.on('error', () => {});
  try {
    await new Promise((resolve) => socket.once('connect', resolve));
    // A probe or a scanner that never finishes its headers (the server's header timeout
    // is checked by a timer that server.close() stops).
    socket.write('GET /health/live HTTP/1.1\r\nHost: gateway\r\n');
    const mark = gw.lines.length;
    gw.signal('SIGTERM');
    await gw.waitForLog((l) => l.event === 'gateway.draining', 10_000, mark);
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([
      gw.exited,
      new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), 20_000))),
    ]).finally(() => clearTimeout(timer));
    assert.deepEqual(exit, { code: 0, signal: null });
  } finally {
    socket.destroy();
    await gw.stop();
  }
});
