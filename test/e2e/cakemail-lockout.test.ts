// AUTH lockout is pod-wide: wrong passwords over several connections, served by both
// workers, lock the client IP out (421 at connect and at AUTH, even with the right
// password); TRUSTED_NETWORKS bypasses it. Real gateway, real Cakemail side, sandbox API.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { replyLine } from '../../src/smtp/replies.ts';
import { SmtpTestClient } from '../helpers/smtp-client.ts';
import { DEMO, assertReply, startE2E, type E2E } from '../helpers/sandbox.ts';

const THRESHOLD = 3;
const running: E2E[] = [];
after(async () => {
  await Promise.all(running.map((x) => x.stop()));
});

async function start(env: Record<string, string>): Promise<E2E> {
  const e = await startE2E({ env: { AUTH_LOCKOUT_THRESHOLD: String(THRESHOLD), SMTP_WORKERS: '2', ...env } });
  running.push(e);
  return e;
}

/** Connected, TLS up, EHLO done: ready for AUTH. */
async function readyForAuth(port: number): Promise<SmtpTestClient> {
  const { client, banner } = await SmtpTestClient.connect(port);
  assert.equal(banner.code, 220, banner.text);
  assert.equal((await client.command('EHLO client.test')).code, 250);
  assert.equal((await client.starttls()).code, 220);
  assert.equal((await client.command('EHLO client.test')).code, 250);
  return client;
}

const authPlain = (client: SmtpTestClient, user: string, pass: string) =>
  client.command('AUTH PLAIN ' + Buffer.from(`\0${user}\0${pass}`).toString('base64'));

/** One connection, one wrong password, closed. */
async function wrongPassword(port: number, i: number) {
  const client = await readyForAuth(port);
  assertReply(await authPlain(client, DEMO.user, `wrong-${i}`), replyLine('authInvalid'));
  client.destroy();
}

test(`${THRESHOLD} wrong passwords across both workers → 421 at connect and at AUTH (right password too)`, async () => {
  const e = await start({});
  const from = e.gw.lines.length;
  // Admitted before the lockout: its AUTH comes after it.
  const early = await readyForAuth(e.gw.smtpPort);
  for (let i = 0; i < THRESHOLD; i++) await wrongPassword(e.gw.smtpPort, i);

  const failures = e.gw.lines
    .slice(from)
    .filter((l) => l.event === 'smtp.auth' && l.outcome === 'failure' && l.reason === 'invalid');
  assert.equal(failures.length, THRESHOLD);
  const workers = new Set(failures.map((l) => l.worker));
  assert.equal(workers.size, 2, `failures counted on both workers (${[...workers]}): the count is pod-wide`);
  await e.gw.waitForLog((l) => l.event === 'auth.lockout', 10_000, from);

  // A new connection is refused in the banner, whichever worker takes it.
  for (let i = 0; i < 2; i++) {
    const { client, banner } = await SmtpTestClient.connect(e.gw.smtpPort);
    assertReply(banner, replyLine('ipLockedOut'));
    await client.closedPromise();
  }
  // The connection admitted earlier: the right password is refused too, and nothing is asked of Cakemail.
  const tokensBefore = e.sb.stats().token;
  assertReply(await authPlain(early, DEMO.user, DEMO.pass), replyLine('ipLockedOut'));
  early.destroy();
  assert.equal(e.sb.stats().token, tokensBefore);
  assert.ok(
    e.gw.lines.slice(from).some((l) => l.event === 'smtp.auth' && l.reason === 'locked_out'),
    'the refused AUTH is logged as locked_out',
  );
});

test('below the threshold nothing is locked: the right password still works', async () => {
  const e = await start({});
  for (let i = 0; i < THRESHOLD - 1; i++) await wrongPassword(e.gw.smtpPort, i);
  const client = await readyForAuth(e.gw.smtpPort);
  assertReply(await authPlain(client, DEMO.user, DEMO.pass), replyLine('authSucceeded'));
  client.destroy();
});

test('TRUSTED_NETWORKS=127.0.0.0/8: no lockout however many failures', async () => {
  const e = await start({ TRUSTED_NETWORKS: '127.0.0.0/8' });
  for (let i = 0; i < THRESHOLD * 2; i++) await wrongPassword(e.gw.smtpPort, i);
  const client = await readyForAuth(e.gw.smtpPort);
  assertReply(await authPlain(client, DEMO.user, DEMO.pass), replyLine('authSucceeded'));
  client.destroy();
  assert.ok(!e.gw.lines.some((l) => l.event === 'auth.lockout'));
});
