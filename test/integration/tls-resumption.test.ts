// TLS session resumption with real processes: a session ticket issued by one worker resumes
// on every worker of the pod and on the workers a rolling restart brings (the primary holds
// the ticket keys: src/primary/ticket-keys.ts); TLS_SESSION_TIMEOUT=0 turns it off.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { SmtpTestClient } from '../helpers/smtp-client.ts';
import { makeCertPair, secretVolume } from '../helpers/tls-files.ts';
import { TEST_PASSWORD, TEST_USER } from '../fixtures/test-mail-side.ts';

interface Handshake {
  resumed: boolean;
  /** The ticket to present next time (the newest this connection got, else the one it presented). */
  session: Buffer | undefined;
  protocol: string | null;
}

/** EHLO, STARTTLS (presenting `session`), EHLO, AUTH: the ticket arrives before the second EHLO's reply. */
async function handshake(
  port: number,
  session?: Buffer,
  options: { maxVersion?: 'TLSv1.2' } = {},
): Promise<Handshake> {
  const { client } = await SmtpTestClient.connect(port);
  try {
    await client.command('EHLO client.test');
    assert.equal((await client.starttls({ ...options, ...(session ? { session } : {}) })).code, 220);
    assert.equal((await client.command('EHLO client.test')).code, 250);
    const auth = await client.command(
      'AUTH PLAIN ' + Buffer.from(`\0${TEST_USER}\0${TEST_PASSWORD}`).toString('base64'),
    );
    assert.equal(auth.code, 235, auth.text);
    const tls = client.tlsSocket!;
    return {
      resumed: tls.isSessionReused(),
      session: client.tlsSession ?? session,
      protocol: tls.getProtocol(),
    };
  } finally {
    client.end();
  }
}

/** The smtp.tls log lines from `mark` on: which worker (pid) did each handshake, resumed or not. */
function tlsLines(gw: RunningGateway, mark: number): { pid: unknown; resumed: unknown }[] {
  return gw.lines
    .slice(mark)
    .flatMap((l) => (l.event === 'smtp.tls' ? [{ pid: l.pid, resumed: l.resumed }] : []));
}

test('a session ticket from one worker resumes on every worker, and on the workers a SIGHUP rolling restart forks', async () => {
  const gw = await startGateway();
  try {
    const first = await handshake(gw.smtpPort);
    assert.equal(first.protocol, 'TLSv1.3');
    assert.equal(first.resumed, false);
    assert.ok(first.session, 'the server issued a session ticket');

    const mark = gw.lines.length;
    let session: Buffer | undefined = first.session;
    for (let i = 0; i < 4; i++) {
      const next = await handshake(gw.smtpPort, session);
      assert.equal(next.resumed, true, `handshake ${i + 2} resumed the session`);
      session = next.session;
    }
    await gw.waitForLog(() => tlsLines(gw, mark).length >= 4, 10_000, mark);
    const resumedOn = tlsLines(gw, mark);
    assert.ok(resumedOn.every((l) => l.resumed === true));
    // Round robin hands consecutive connections to both workers: the ticket of one
    // resumed on the other (Node's own per-context keys would refuse it there).
    assert.equal(new Set(resumedOn.map((l) => l.pid)).size, 2);

    const metrics = (await gw.http('/metrics')).body;
    assert.match(metrics, /smtp_tls_handshakes_total\{status="ok",resumed="true"\} 4\b/);
    assert.match(metrics, /smtp_tls_handshakes_total\{status="ok",resumed="false"\} 1\b/);

    // New worker processes get the primary's keys in their init: tickets outlive workers.
    const before = new Set(resumedOn.map((l) => l.pid));
    const reload = gw.lines.length;
    gw.signal('SIGHUP');
    await gw.waitForLog((l) => l.event === 'gateway.reloaded', 30_000, reload);
    const afterRestart = gw.lines.length;
    for (let i = 0; i < 2; i++) assert.equal((await handshake(gw.smtpPort, session)).resumed, true);
    await gw.waitForLog(() => tlsLines(gw, afterRestart).length >= 2, 10_000, afterRestart);
    for (const l of tlsLines(gw, afterRestart)) {
      assert.equal(before.has(l.pid), false, 'a worker forked by the rolling restart');
      assert.equal(l.resumed, true);
    }
  } finally {
    await gw.stop();
  }
});

test('TLS 1.2 clients resume with the same tickets (RFC 5077) on every worker', async () => {
  const gw = await startGateway();
  try {
    const tls12 = { maxVersion: 'TLSv1.2' } as const;
    const first = await handshake(gw.smtpPort, undefined, tls12);
    assert.equal(first.protocol, 'TLSv1.2');
    assert.equal(first.resumed, false);
    const mark = gw.lines.length;
    let session = first.session;
    for (let i = 0; i < 4; i++) {
      const next = await handshake(gw.smtpPort, session, tls12);
      assert.equal(next.protocol, 'TLSv1.2');
      assert.equal(next.resumed, true, `handshake ${i + 2} resumed the session`);
      session = next.session;
    }
    await gw.waitForLog(() => tlsLines(gw, mark).length >= 4, 10_000, mark);
    assert.equal(new Set(tlsLines(gw, mark).map((l) => l.pid)).size, 2);
  } finally {
    await gw.stop();
  }
});

test('a certificate rotation keeps the ticket keys: sessions from before it still resume on every worker', async () => {
  const volume = await secretVolume(await makeCertPair('first.test'));
  const gw = await startGateway({ env: { TLS_CERT_PATH: volume.certPath, TLS_KEY_PATH: volume.keyPath } });
  try {
    const { session } = await handshake(gw.smtpPort);
    const mark = gw.lines.length;
    await volume.rotate(await makeCertPair('second.test'));
    await gw.waitForLog(
      () => gw.lines.slice(mark).filter((l) => l.event === 'worker.tls_updated').length >= 2,
      10_000,
      mark,
    );
    const after = gw.lines.length;
    for (let i = 0; i < 4; i++) assert.equal((await handshake(gw.smtpPort, session)).resumed, true);
    await gw.waitForLog(() => tlsLines(gw, after).length >= 4, 10_000, after);
    assert.equal(new Set(tlsLines(gw, after).map((l) => l.pid)).size, 2);
    // A client without a ticket gets the new certificate.
    const { client } = await SmtpTestClient.connect(gw.smtpPort);
    await client.command('EHLO client.test');
    await client.starttls();
    assert.match(client.tlsSocket!.getPeerX509Certificate()!.subject, /second\.test/);
    client.end();
  } finally {
    await gw.stop();
  }
});

test('TLS_SESSION_TIMEOUT=0: no session resumes, every handshake is a full one', async () => {
  const gw = await startGateway({ env: { TLS_SESSION_TIMEOUT: '0' } });
  try {
    const first = await handshake(gw.smtpPort);
    assert.equal(first.resumed, false);
    for (let i = 0; i < 3; i++) {
      const next = await handshake(gw.smtpPort, first.session);
      assert.equal(next.resumed, false);
    }
    const metrics = (await gw.http('/metrics')).body;
    assert.match(metrics, /smtp_tls_handshakes_total\{status="ok",resumed="false"\} 4\b/);
    assert.doesNotMatch(metrics, /resumed="true"\} [1-9]/);
  } finally {
    await gw.stop();
  }
});
