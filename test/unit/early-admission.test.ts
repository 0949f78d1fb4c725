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
import { IPC_TIMEOUT_MS, PrimaryLink } from '../../src/smtp/primary-link.ts';
import type { AdmissionVerdict } from '../../src/ipc/messages.ts';
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

test('sockets reset before the worker read their peer address are not asked for at accept (no shared key)', async () => {
  const asked: string[] = [];
  const released: string[] = [];
  const early = new EarlyAdmission({
    ask: (ip) => (asked.push(ip), Promise.resolve({ verdict: 'ok', counted: true })),
    release: (ip) => released.push(ip),
  });
  // What a connection reset before accept looks like: the handle has no peer any more.
  const gone = () =>
    Object.assign(new EventEmitter(), {
      remoteAddress: undefined,
      remotePort: undefined,
    }) as unknown as Socket & EventEmitter;
  const a = gone();
  const b = gone();
  early.onSocket(a);
  early.onSocket(b);
  a.emit('close');
  b.emit('close');
  await flush();
  assert.equal(early.pending, 0);
  assert.equal(released.length, asked.length, 'every admission asked at accept is given back');
});

test('a second socket with a pending key does not overwrite the first one’s admission', async () => {
  const answers = [deferred(), deferred()];
  let n = 0;
  const released: string[] = [];
  const early = new EarlyAdmission({ ask: () => answers[n++]!.promise, release: (ip) => released.push(ip) });
  const first = fakeSocket('127.0.0.8', 9);
  const second = fakeSocket('127.0.0.8', 9); // a reused port whose predecessor's close is not seen yet
  early.onSocket(first);
  early.onSocket(second);
  first.emit('close');
  second.emit('close');
  for (const a of answers) a.answer({ verdict: 'ok', counted: true });
  await flush();
  assert.equal(released.length, n, 'every admission asked at accept is given back, once');
  assert.equal(early.pending, 0);
});

/** Session hooks on the real PrimaryLink and RequestChannel: what the worker sends, answers by hand. */
function hooksOverIpc(t: { mock: { timers: { enable(o: { apis: 'setTimeout'[] }): void } } }) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const sent: Array<{ type: string; id?: number; kind?: string; ips?: string[] }> = [];
  const link = new PrimaryLink({
    send: (m: unknown, _h?: undefined, _o?: undefined, cb?: (e: Error | null) => void) => {
      sent.push(m as (typeof sent)[number]);
      cb?.(null);
      return true;
    },
  });
  const hooks = createSessionHooks({
    config: loadConfig({}),
    link,
    authenticator: {} as Authenticator,
    pipeline: {} as MailPipeline,
    log: createLogger({ level: 'silent', format: 'json', role: 'worker' }),
  });
  const answer = (id: number, verdict: AdmissionVerdict) =>
    link.channel.handleResponse({ type: 'response', id, ok: true, body: { verdict } });
  const opens = () => sent.filter((m) => m.type === 'request' && m.kind === 'connection.open');
  const releasedIps = () => sent.filter((m) => m.type === 'connection.closed').flatMap((m) => m.ips);
  const connect = (session: SMTPServerSession) =>
    new Promise<Error | null | undefined>((resolve) => hooks.onConnect(session, resolve));
  return { hooks, link, answer, opens, releasedIps, connect };
}

test('session hooks: a connection.open the primary answers after the IPC timeout is given back when that answer comes', async (t) => {
  const { hooks, link, answer, opens, releasedIps, connect } = hooksOverIpc(t);
  const open = { id: 'late-open', remoteAddress: '127.0.0.21', remotePort: 2101 } as SMTPServerSession;
  const closed = { id: 'late-closed', remoteAddress: '127.0.0.22', remotePort: 2201 } as SMTPServerSession;
  const refused = { id: 'late-refused', remoteAddress: '127.0.0.23', remotePort: 2301 } as SMTPServerSession;
  for (const s of [open, closed, refused]) hooks.onSocket(fakeSocket(s.remoteAddress, s.remotePort));
  const [forOpen, forClosed, forRefused] = opens();
  assert.ok(forOpen && forClosed && forRefused);
  t.mock.timers.tick(IPC_TIMEOUT_MS); // the primary is stalled: every ask fails open
  for (const s of [open, closed, refused]) assert.equal(await connect(s), undefined, 'admitted fail-open');
  hooks.onClose(closed); // this one leaves before the primary answers
  t.mock.timers.tick(10);
  assert.deepEqual(releasedIps(), [], 'nothing was counted yet');
  // The primary wakes up and answers: it counted the two it let in.
  answer(forOpen.id!, 'ok');
  answer(forClosed.id!, 'ok');
  answer(forRefused.id!, 'ip_limit');
  t.mock.timers.tick(10);
  assert.deepEqual(releasedIps().sort(), ['127.0.0.21', '127.0.0.22'], 'each counted one given back');
  hooks.onClose(open);
  hooks.onClose(refused);
  t.mock.timers.tick(10);
  hooks.flushReleases();
  assert.deepEqual(releasedIps().sort(), ['127.0.0.21', '127.0.0.22'], 'and only once');
  assert.equal(link.channel.lateCount, 0, 'no late answer is still awaited');
});

test('session hooks: an answer in time is released by the session only, never as a late answer', async (t) => {
  const { hooks, answer, opens, releasedIps, connect } = hooksOverIpc(t);
  const session = { id: 'in-time', remoteAddress: '127.0.0.24', remotePort: 2401 } as SMTPServerSession;
  hooks.onSocket(fakeSocket(session.remoteAddress, session.remotePort));
  answer(opens()[0]!.id!, 'ok');
  assert.equal(await connect(session), undefined);
  t.mock.timers.tick(IPC_TIMEOUT_MS); // the deadline passes after the answer: nothing happens
  hooks.onClose(session);
  t.mock.timers.tick(10);
  hooks.flushReleases();
  assert.deepEqual(releasedIps(), ['127.0.0.24']);
});
