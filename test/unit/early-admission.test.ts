// Admission asked at accept (src/smtp/early-admission.ts) and the session hooks around it:
// every connection the primary counted is given back exactly once, however early it left.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import type { SMTPServerSession } from 'smtp-server';
import { loadConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/log.ts';
import { EarlyAdmission, sessionAddress, type Admission } from '../../src/smtp/early-admission.ts';
import type { PrimaryLink } from '../../src/smtp/primary-link.ts';
import { createSessionHooks } from '../../src/smtp/session-hooks.ts';
import type { Authenticator, MailPipeline } from '../../src/smtp/contracts.ts';

function fakeSocket(remoteAddress: string, remotePort: number): Socket & EventEmitter {
  return Object.assign(new EventEmitter(), { remoteAddress, remotePort }) as unknown as Socket & EventEmitter;
}

/** An admission the test answers by hand. */
function deferred() {
  let answer!: (a: Admission) => void;
  const promise = new Promise<Admission>((r) => (answer = r));
  return { promise, answer };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

test('sessionAddress matches what smtp-server puts in session.remoteAddress', () => {
  assert.equal(sessionAddress('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(sessionAddress('2001:DB8::1'), '2001:db8::1');
  assert.equal(sessionAddress(undefined), '');
});

test('the admission asked at accept is the one onConnect takes; nothing is asked twice', async () => {
  const asked: string[] = [];
  const released: string[] = [];
  const early = new EarlyAdmission({
    ask: (ip) => (asked.push(ip), Promise.resolve({ verdict: 'ok', counted: true })),
    release: (ip) => released.push(ip),
  });
  const socket = fakeSocket('::ffff:127.0.0.9', 40001);
  early.onSocket(socket);
  assert.deepEqual(asked, ['127.0.0.9']);
  assert.deepEqual(await early.take('127.0.0.9', 40001), { verdict: 'ok', counted: true });
  assert.equal(asked.length, 1);
  socket.emit('close'); // the session owns it now: its onClose gives it back, not us
  await flush();
  assert.deepEqual(released, []);
  assert.equal(early.pending, 0);
});

test('a socket gone before onConnect gives a granted admission back, once, even when the answer comes later', async () => {
  const answers = [deferred(), deferred(), deferred()];
  let n = 0;
  const released: string[] = [];
  const early = new EarlyAdmission({ ask: () => answers[n++]!.promise, release: (ip) => released.push(ip) });
  const granted = fakeSocket('127.0.0.7', 1);
  const refused = fakeSocket('127.0.0.7', 2);
  const failedOpen = fakeSocket('127.0.0.7', 3);
  for (const s of [granted, refused, failedOpen]) early.onSocket(s);
  for (const s of [granted, refused, failedOpen]) s.emit('close');
  assert.equal(early.pending, 0);
  answers[0]!.answer({ verdict: 'ok', counted: true });
  answers[1]!.answer({ verdict: 'ip_limit', counted: true });
  answers[2]!.answer({ verdict: 'ok', counted: false });
  await flush();
  assert.deepEqual(released, ['127.0.0.7'], 'only the counted grant is given back');
});

test('a session whose socket was never seen is asked for at onConnect', async () => {
  const asked: string[] = [];
  const early = new EarlyAdmission({
    ask: (ip) => (asked.push(ip), Promise.resolve({ verdict: 'ok', counted: true })),
    release: () => assert.fail('nothing to release'),
  });
  await early.take('10.0.0.1', 25);
  assert.deepEqual(asked, ['10.0.0.1']);
});

test('session hooks: closed while the primary answered → the count is given back, no session is kept', async (t) => {
  // The release batch waits on a 10 ms timer; a slow host must not send it before the
  // assertion that it waits, so the test holds that timer (setImmediate stays real).
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const config = loadConfig({});
  const log = createLogger({ level: 'silent', format: 'json', role: 'worker' });
  const pending: Array<(v: { verdict: 'ok' }) => void> = [];
  const notified: unknown[] = [];
  const link = {
    request: () => new Promise((r) => pending.push(r)),
    notify: (m: unknown) => notified.push(m),
  } as unknown as PrimaryLink;
  const hooks = createSessionHooks({
    config,
    link,
    authenticator: {} as Authenticator,
    pipeline: {} as MailPipeline,
    log,
  });
  const session = { id: 's1', remoteAddress: '127.0.0.5', remotePort: 5000 } as SMTPServerSession;
  hooks.onSocket(fakeSocket('127.0.0.5', 5000));
  let connected: Error | null | undefined = undefined;
  let called = false;
  hooks.onConnect(session, (err) => ((called = true), (connected = err)));
  hooks.onClose(session); // smtp-server closes it before the answer
  pending[0]!({ verdict: 'ok' });
  await flush();
  assert.ok(called);
  assert.equal(connected, undefined);
  assert.deepEqual(notified, [], 'releases wait for their batch');
  t.mock.timers.tick(10);
  assert.deepEqual(notified, [{ type: 'connection.closed', ips: ['127.0.0.5'] }]);
  hooks.flushReleases();
  assert.equal(notified.length, 1, 'given back once');
  assert.equal(hooks.activeSessions(), 0);
});

test('a limit refusal from accept time is asked again at onConnect (a slot may have freed during the wait)', async () => {
  const verdicts: Admission[] = [
    { verdict: 'ip_limit', counted: true },
    { verdict: 'ok', counted: true },
    { verdict: 'locked_out', counted: true },
  ];
  let asked = 0;
  const early = new EarlyAdmission({
    ask: () => Promise.resolve(verdicts[asked++]!),
    release: () => assert.fail('nothing to release'),
  });
  early.onSocket(fakeSocket('127.0.0.3', 7));
  assert.equal((await early.take('127.0.0.3', 7)).verdict, 'ok');
  assert.equal(asked, 2);
  early.onSocket(fakeSocket('127.0.0.3', 8));
  assert.equal((await early.take('127.0.0.3', 8)).verdict, 'locked_out', 'a lockout is final');
  assert.equal(asked, 3);
});
