// The primary's HTTP app without processes: a client's malformed request is the client's
// error (4xx), never a 503 logged as one of ours (the status page lists error lines).
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { createHttpApp } from '../../src/primary/http/app.ts';
import type { MetricsAggregator } from '../../src/primary/http/metrics-aggregator.ts';
import { RecentEvents, recordingErrors } from '../../src/primary/recent-events.ts';

async function withApp(
  fn: (base: string, lines: string[], events: RecentEvents) => Promise<void>,
): Promise<void> {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const events = new RecentEvents(20);
  const log = recordingErrors(pino({ level: 'info' }, sink), events);
  const app = createHttpApp({
    readiness: () => ({ ready: true }),
    metrics: {
      render: async () => ({ contentType: 'text/plain', body: '' }),
    } as unknown as MetricsAggregator,
    log,
    extraRoutes: (a) => {
      a.get('/outbox/:id', (req, res) => {
        res.send(String(req.params.id));
      });
      a.get('/boom', async () => {
        throw new Error('broken');
      });
    },
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, lines, events);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

test('a malformed %-escape in a path parameter is a 400, not a 503 recorded as a gateway error', async () => {
  await withApp(async (base, lines, events) => {
    for (const path of ['/outbox/%ZZ', '/outbox/%', '/outbox/%E0%A4%A']) {
      const res = await fetch(base + path);
      assert.equal(res.status, 400, path);
      await res.text();
    }
    assert.deepEqual(events.list(), [], 'nothing on the status page');
    assert.ok(!lines.some((l) => JSON.parse(l).level >= 50), 'no error line');
    assert.equal(await (await fetch(`${base}/outbox/a%20b`)).text(), 'a b', 'valid escapes still work');
  });
});

test('a handler that fails is still a 503 and an error line', async () => {
  await withApp(async (base, lines, events) => {
    const res = await fetch(`${base}/boom`);
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { error: 'temporarily unavailable' });
    assert.equal(events.list()[0]?.event, 'http.error');
    assert.ok(lines.some((l) => JSON.parse(l).event === 'http.error'));
  });
});
