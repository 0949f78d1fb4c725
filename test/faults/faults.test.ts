// Fault suite (`npm run test:faults`, also part of `npm test`): each fault under continuous
// load, each ending with an accounting against the sandbox outbox — every 250 is there exactly
// once per recipient, every 4xx retried by the client ends the same way, nothing else is there.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, test } from 'node:test';
import { DEMO, startE2E, type E2E } from '../helpers/sandbox.ts';
import type { LogLine } from '../helpers/gateway.ts';
import { sample } from '../helpers/metrics.ts';
import { SmtpTestClient } from '../helpers/smtp-client.ts';
import { makeCertPair, secretVolume } from '../helpers/tls-files.ts';
import { AccountingLoad, type Accounting } from './accounting-load.ts';
import { record, writeReport } from './report.ts';

after(() => writeReport());

const LOAD_ENV = {
  SMTP_WORKERS: '2',
  RATE_LIMIT_PER_IP: '0',
  MAX_CONNECTIONS_PER_IP: '10000',
  DRAIN_TIMEOUT: '5',
};
const SESSIONS = 6;

function newLoad(e: E2E, tag: string, extra: Partial<ConstructorParameters<typeof AccountingLoad>[0]> = {}) {
  return new AccountingLoad({
    port: () => e.gw.smtpPort,
    user: DEMO.user,
    pass: DEMO.pass,
    from: DEMO.user,
    sessions: SESSIONS,
    tag,
    ...extra,
  });
}

async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20)); // polling a condition, with a deadline
  }
}

function assertExactlyOnce(acc: Accounting, allowedDuplicates = 0): void {
  assert.deepEqual(acc.lost, [], 'a 250 without its outbox entry');
  assert.deepEqual(acc.unacknowledged, [], 'outbox entries the client never got a 250 for');
  assert.ok(acc.duplicates.length <= allowedDuplicates, `duplicates: ${acc.duplicates.join(', ')}`);
  assert.equal(acc.rejected, 0, 'no message should be refused permanently');
}

/** Runs a fault under load: load flows, fault, load flows again, drain, account. */
async function underLoad(
  name: string,
  fault: (
    e: E2E,
    load: AccountingLoad,
  ) => Promise<{ outcome: string; allowedDuplicates?: number; ambiguous?: number }>,
  opts: { env?: Record<string, string>; newConnectionPerMessage?: boolean; afterFault?: number } = {},
): Promise<Accounting> {
  const e = await startE2E({ env: { ...LOAD_ENV, ...opts.env } });
  const load = newLoad(e, name.replace(/\W+/g, '-'), {
    newConnectionPerMessage: opts.newConnectionPerMessage ?? false,
  });
  try {
    load.start();
    await load.waitAccepted(20);
    const result = await fault(e, load);
    if (opts.afterFault !== 0) await load.waitAccepted(opts.afterFault ?? 20);
    await load.stop();
    const acc = load.account(e.sb.outbox());
    record({
      fault: name,
      load: `${SESSIONS} sessions, ${acc.sent} messages × 2 recipients`,
      outcome: result.outcome,
      accounting: acc,
      ...(result.ambiguous !== undefined ? { ambiguousCounted: result.ambiguous } : {}),
    });
    assertExactlyOnce(acc, result.allowedDuplicates ?? 0);
    return acc;
  } finally {
    await load.stop().catch(() => undefined);
    await e.stop();
  }
}

async function metric(e: E2E, name: string, labels: Record<string, string> = {}): Promise<number> {
  return sample((await e.gw.http('/metrics')).body, name, labels) ?? 0;
}

test('kill -9 of one worker mid-load', async () => {
  await underLoad('kill -9 one worker', async (e) => {
    const victim = e.gw.lines.find((l) => l.event === 'worker.listening' && l.role === 'worker')!;
    const mark = e.gw.lines.length;
    process.kill(victim.pid as number, 'SIGKILL');
    await e.gw.waitForLog((l) => l.event === 'worker.listening' && l.role === 'primary', 20_000, mark);
    // A message Cakemail accepted in the instant between its answer and the ledger write of
    // the killed worker can be sent again by the client's retry: at most one per session there.
    return {
      outcome: 'sessions on it cut; clients retried on the other worker; slot replaced',
      allowedDuplicates: SESSIONS * 2,
    };
  });
});

test('upstream outage: connections refused by the API, then back', async () => {
  await underLoad('upstream outage (API drops connections)', async (e, load) => {
    e.sb.setFaults({ dropBeforeRequest: true, endpoints: ['emails'] });
    await until(() => (load.replyCodes[451] ?? 0) >= 5, 'deferrals during the outage');
    e.sb.setFaults(null);
    return { outcome: '451 during the outage, clients retried, all delivered after' };
  });
});

test('5xx burst', async () => {
  await underLoad('5xx burst (503 × 60)', async (e) => {
    e.sb.setFaults({ status: 503, endpoints: ['emails'], remaining: 60 });
    await until(() => e.sb.getFaults() === null, 'the burst to pass');
    return { outcome: 'retried inside the gateway or deferred with 451; all delivered' };
  });
});

test('429 storm', async () => {
  await underLoad('429 storm', async (e, load) => {
    e.sb.setFaults({ status: 429, endpoints: ['emails'] });
    await until(() => (load.replyCodes[451] ?? 0) >= 5, 'deferrals during the storm');
    e.sb.setFaults(null);
    return { outcome: '451 4.4.5 while throttled; all delivered after' };
  });
});

test('5 s latency spike', async () => {
  await underLoad(
    '5 s upstream latency spike',
    async (e) => {
      e.sb.setFaults({ latencyMs: 5000, endpoints: ['emails'], remaining: 12 });
      await until(() => e.sb.getFaults() === null, 'the slow calls to pass');
      return { outcome: 'slow replies, no error (per-call timeout above 5 s)' };
    },
    { env: { CAKEMAIL_TIMEOUT_MS: '8000' } },
  );
});

test('connections dropped after the request was sent (ambiguous)', async () => {
  let ambiguous = 0;
  const acc = await underLoad('API drops the connection after the request (ambiguous)', async (e) => {
    e.sb.setFaults({ dropAfterRequest: true, endpoints: ['emails'], remaining: 6 });
    await until(() => e.sb.getFaults() === null, 'the drops to happen');
    await until(() => e.gw.lines.length > 0, 'logs');
    ambiguous = await metric(e, 'cakemail_emails_forwarded_total', { outcome: 'ambiguous' });
    // Cakemail accepted these but never answered: never retried by the gateway (no idempotency
    // key), 451 4.4.1 to the client, whose retry sends them again. Duplicates == ambiguous count.
    return {
      outcome: '451 4.4.1; the client retry duplicates exactly the ambiguous sends',
      allowedDuplicates: 6,
      ambiguous,
    };
  });
  assert.equal(ambiguous, 6);
  assert.equal(acc.duplicates.length, ambiguous, 'every duplicate is an ambiguous send, counted');
});

test('SIGHUP under load (rolling restart): zero failed sessions', async () => {
  const acc = await underLoad(
    'SIGHUP rolling restart',
    async (e) => {
      const mark = e.gw.lines.length;
      e.gw.signal('SIGHUP');
      await e.gw.waitForLog((l) => l.event === 'gateway.reloaded', 60_000, mark);
      return { outcome: 'workers replaced one by one; no session failed' };
    },
    { newConnectionPerMessage: true },
  );
  assert.equal(acc.connectionFailures, 0);
  assert.equal(acc.retriedThenAccepted, 0, 'no message needed a retry');
  assert.deepEqual(Object.keys(acc.replyCodes), ['250']);
});

test('certificate files replaced on disk under load: new handshakes get the new certificate, none fails', async () => {
  const first = await makeCertPair('first.test');
  const second = await makeCertPair('second.test');
  const volume = await secretVolume(first);
  const acc = await underLoad(
    'certificate rotated on disk',
    async (e) => {
      const mark = e.gw.lines.length;
      await volume.rotate(second);
      await e.gw.waitForLog(
        () => e.gw.lines.slice(mark).filter((l) => l.event === 'worker.tls_updated').length >= 2,
        20_000,
        mark,
      );
      for (let i = 0; i < 4; i++) {
        const { client } = await SmtpTestClient.connect(e.gw.smtpPort);
        await client.command('EHLO client.test');
        await client.starttls();
        assert.equal(client.tlsSocket!.getPeerX509Certificate()!.fingerprint256, second.fingerprint);
        client.end();
      }
      const expiry = await metric(e, 'gateway_tls_certificate_expiry_timestamp_seconds');
      assert.equal(expiry, Math.floor(new Date(new X509Certificate(second.cert).validTo).getTime() / 1000));
      return { outcome: 'swapped live in every worker; no handshake failed' };
    },
    {
      newConnectionPerMessage: true,
      env: { TLS_CERT_PATH: volume.certPath, TLS_KEY_PATH: volume.keyPath },
    },
  );
  assert.equal(acc.connectionFailures, 0);
});

test('SIGTERM under load (drain): every 250 delivered, nothing unacknowledged', async () => {
  const e = await startE2E({ env: LOAD_ENV });
  const load = newLoad(e, 'sigterm', { giveUpMs: 3000 });
  load.start();
  await load.waitAccepted(20);
  e.gw.signal('SIGTERM');
  const { code } = await e.gw.exited;
  await load.stop();
  const acc = load.account(e.sb.outbox());
  record({
    fault: 'SIGTERM drain under load',
    load: `${SESSIONS} sessions`,
    outcome: `exit ${code}; in-flight DATA answered; the rest 421 → client keeps them`,
    accounting: acc,
  });
  await e.stop();
  assert.equal(code, 0);
  assert.deepEqual(acc.lost, []);
  assert.deepEqual(acc.unacknowledged, [], 'a message delivered but never acknowledged');
  assert.deepEqual(acc.duplicates, []);
});

/** Every email request that reached the sandbox has been answered or accepted (none in its latency). */
function sandboxSettled(e: E2E): boolean {
  const st = e.sb.stats();
  return st.emails === st.accepted + st.rejectedInvalid + st.faulted;
}

test('SIGTERM while Cakemail answers slowly: deliveries under way at the drain deadline get their own reply', async () => {
  // DRAIN_TIMEOUT 1 s, every POST 2.5 s: each session has a delivery under way when the drain
  // ends. Before, those sessions got 421 and the worker exited under the call; Cakemail then
  // accepted what the client had been told to send again.
  const e = await startE2E({ env: { ...LOAD_ENV, DRAIN_TIMEOUT: '1' } });
  const load = newLoad(e, 'sigterm-slow', { giveUpMs: 3000 });
  load.start();
  await load.waitAccepted(20);
  const before = e.sb.stats().emails;
  e.sb.setFaults({ latencyMs: 2500, endpoints: ['emails'] });
  await until(() => e.sb.stats().emails >= before + SESSIONS, 'a delivery under way in each session');
  const mark = e.gw.lines.length;
  e.gw.signal('SIGTERM');
  const { code } = await e.gw.exited;
  await load.stop();
  await until(() => sandboxSettled(e), 'the slow calls to end');
  const acc = load.account(e.sb.outbox());
  const lines = e.gw.lines.slice(mark);
  record({
    fault: 'SIGTERM drain, API at 2.5 s a call (drain 1 s)',
    load: `${SESSIONS} sessions`,
    outcome: `exit ${code}; the deliveries under way at the drain's end answered 250, then 421`,
    accounting: acc,
  });
  await e.stop();
  assert.equal(code, 0);
  assertExactlyOnce(acc);
  assert.ok(lines.some((l) => l.event === 'worker.drain_timeout' && Number(l.deliveriesUnderWay) > 0));
  assert.ok(!lines.some((l) => l.event === 'worker.kill'), 'no worker was killed');
});

test('SIGHUP while Cakemail answers slowly: the retiring workers answer their deliveries, no duplicate', async () => {
  let lines: LogLine[] = [];
  const acc = await underLoad(
    'SIGHUP rolling restart, API at 2.5 s a call (drain 1 s)',
    async (e) => {
      const before = e.sb.stats().emails;
      // One slow message per session: the replacements then run at full speed.
      e.sb.setFaults({ latencyMs: 2500, endpoints: ['emails'], remaining: 2 * SESSIONS });
      await until(() => e.sb.stats().emails >= before + SESSIONS, 'a delivery under way in each session');
      const mark = e.gw.lines.length;
      e.gw.signal('SIGHUP');
      await e.gw.waitForLog((l) => l.event === 'gateway.reloaded', 60_000, mark);
      await until(() => sandboxSettled(e), 'the slow calls to end');
      lines = e.gw.lines.slice(mark);
      return { outcome: "deliveries under way at the drain's end answered 250, then 421; clients moved on" };
    },
    { env: { DRAIN_TIMEOUT: '1' } },
  );
  assert.equal(acc.rejected, 0);
  assert.ok(lines.some((l) => l.event === 'worker.drain_timeout' && Number(l.deliveriesUnderWay) > 0));
  assert.ok(!lines.some((l) => l.event === 'worker.kill'), 'no worker was killed');
});
