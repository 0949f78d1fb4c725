// The status page's parts without a browser: the recent-events ring and logger wrapper, the
// sandbox outbox tail (incremental reads, resync after a clear), the rates between snapshots.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import type { MetricValue } from 'prom-client';
import type { Config } from '../../src/config/schema.ts';
import type { ConnectionTable } from '../../src/primary/admission.ts';
import type { MetricsAggregator } from '../../src/primary/http/metrics-aggregator.ts';
import { escapeHtml } from '../../src/primary/http/status-page.ts';
import { OUTBOX_SHOWN, SandboxOutboxTail } from '../../src/primary/http/status-outbox.ts';
import { StatusSource } from '../../src/primary/http/status-snapshot.ts';
import { RecentEvents, recordingErrors } from '../../src/primary/recent-events.ts';
import type { Supervisor } from '../../src/primary/supervisor.ts';
import { startSandbox } from '../../src/sandbox/server.ts';

test('RecentEvents keeps the newest N, newest first', () => {
  const ring = new RecentEvents(3);
  for (let i = 1; i <= 5; i++)
    ring.record({ at: '', level: 'error', event: `e${i}`, message: '', detail: '' });
  assert.deepEqual(
    ring.list().map((e) => e.event),
    ['e5', 'e4', 'e3'],
  );
});

test('recordingErrors: error and fatal lines are recorded and still logged; other levels are not recorded', () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const ring = new RecentEvents(5);
  const log = recordingErrors(pino({ level: 'info', base: { role: 'primary' } }, sink), ring);
  log.info({ event: 'x.info' }, 'fine');
  log.warn({ event: 'x.warn' }, 'hmm');
  log.error(
    { event: 'worker.exit', slot: 1, code: null, signal: 'SIGKILL', nested: { a: 1 } },
    'worker crashed',
  );
  log.fatal('plain fatal');
  const child = log.child({ component: 'c' });
  child.error({ event: 'child.err' }, 'from a child');
  assert.equal(lines.length, 5, 'every line still logged');
  assert.match(lines.at(-1)!, /"component":"c"/, 'a child keeps its bindings');
  assert.deepEqual(
    ring.list().map((e) => [e.level, e.event, e.message]),
    [
      ['error', 'child.err', 'from a child'],
      ['fatal', '', 'plain fatal'],
      ['error', 'worker.exit', 'worker crashed'],
    ],
  );
  assert.equal(ring.list()[2]!.detail, 'slot=1 signal=SIGKILL');
  // The status page shows `detail`: a secret-named field is censored there as in the logs.
  log.error({ event: 'x.secret', password: 'hunter2', refresh_token: 'rt-1', user: 'u' }, 'oops');
  assert.equal(ring.list()[0]!.detail, 'password=[redacted] refresh_token=[redacted] user=u');
});

test('escapeHtml leaves nothing that could open a tag or end an attribute', () => {
  assert.equal(
    escapeHtml(`<a href="x" onclick='y'>&\``),
    '&#60;a href=&#34;x&#34; onclick=&#39;y&#39;&#62;&#38;&#96;',
  );
});

/** Submits emails straight to the sandbox API as the demo user (fills its outbox). */
async function demoSender(url: string): Promise<(subject: string) => Promise<void>> {
  const tokenRes = await fetch(`${url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=password&username=demo%40cakemail.test&password=demo-password',
  });
  const { access_token } = (await tokenRes.json()) as { access_token: string };
  return async (subject) => {
    const res = await fetch(`${url}/v2/emails`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${access_token}` },
      body: JSON.stringify({
        email: 'someone@example.com',
        sender: { id: 'snd-1001-demo' },
        content: { subject, text: 'x', encoding: 'utf-8', type: 'transactional' },
      }),
    });
    assert.equal(res.status, 201, await res.text());
  };
}

test('SandboxOutboxTail: reads incrementally, keeps the last ones, resyncs after a clear', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gw-tail-'));
  const sb = await startSandbox({ dataDir: dir, writeOutbox: false });
  const tail = new SandboxOutboxTail(sb.url);
  const send = await demoSender(sb.url);
  try {
    await tail.refresh();
    assert.deepEqual(tail.recent(), []);
    for (let i = 1; i <= 3; i++) await send(`m${i}`);
    await tail.refresh();
    assert.deepEqual(
      tail.recent().map((m) => m.subject),
      ['m3', 'm2', 'm1'],
    );
    for (let i = 4; i <= OUTBOX_SHOWN + 5; i++) await send(`m${i}`);
    await tail.refresh();
    const shown = tail.recent().map((m) => m.subject);
    assert.equal(shown.length, OUTBOX_SHOWN);
    assert.equal(shown[0], `m${OUTBOX_SHOWN + 5}`);
    assert.equal(shown.at(-1), 'm6');
    assert.equal(tail.byId(tail.recent()[0]!.id)?.text, 'x');

    sb.clearOutbox();
    await tail.refresh();
    assert.deepEqual(tail.recent(), [], 'cleared: nothing shown');
    await send('after clear');
    await tail.refresh();
    assert.deepEqual(
      tail.recent().map((m) => m.subject),
      ['after clear'],
    );
  } finally {
    await sb.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('SandboxOutboxTail: when the sandbox evicted old entries, it shows the newest ones', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gw-tail-'));
  const sb = await startSandbox({ dataDir: dir, writeOutbox: false, outboxMemoryEntries: 5 });
  const tail = new SandboxOutboxTail(sb.url);
  const send = await demoSender(sb.url);
  try {
    for (let i = 1; i <= 3; i++) await send(`m${i}`);
    await tail.refresh();
    for (let i = 4; i <= 13; i++) await send(`m${i}`);
    await tail.refresh();
    assert.deepEqual(
      tail.recent().map((m) => m.subject),
      ['m13', 'm12', 'm11', 'm10', 'm9'],
    );
  } finally {
    await sb.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('StatusSource: rates from two counter snapshots, cached for a second, one worker round per snapshot', async () => {
  let accepted = 0;
  let rounds = 0;
  const metrics = {
    async values() {
      rounds += 1;
      return new Map<string, MetricValue<string>[]>([
        ['smtp_emails_received_total', [{ value: accepted, labels: { status: 'accepted' } }]],
        ['cakemail_circuit_breaker_state', [{ value: 2, labels: {} }]],
      ]);
    },
  } as unknown as MetricsAggregator;
  const supervisor = {
    readiness: () => ({ ready: true }),
    slotStates: () => [{ slot: 0, state: 'listening', pid: 42, generation: 1, restarts: 0 }],
  } as unknown as Supervisor;
  let now = 1_000_000;
  const source = new StatusSource(
    {
      supervisor,
      table: { total: 3, draining: false } as ConnectionTable,
      metrics,
      sandboxUrl: undefined,
      config: { CAKEMAIL_API_URL: 'https://api.example.test' } as Config,
      recentEvents: new RecentEvents(),
    },
    () => now,
  );
  const first = await source.get();
  assert.equal(first.messages[0]!.perSecond, null, 'no rate from one snapshot');
  assert.equal(first.upstream.breaker, 'open');
  assert.equal(first.connections, 3);
  assert.equal(first.outbox, null);
  await Promise.all([source.get(), source.get()]);
  assert.equal(rounds, 1, 'cached: no second worker round within a second');

  accepted = 10;
  now += 999;
  await source.get();
  assert.equal(rounds, 1, 'still cached at 999 ms');
  now += 1_001;
  const later = await source.get();
  assert.equal(rounds, 2);
  assert.equal(later.rateWindowSeconds, 2);
  assert.equal(later.messages[0]!.perSecond, 5, '10 messages in 2 s');
  assert.equal(later.messages[0]!.total, 10);
});
