// The SMTP surface of a real gateway (primary + 2 workers, in-test mail side).
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { SmtpTestClient, message, sendMail } from '../helpers/smtp-client.ts';
import { TEST_PASSWORD, TEST_USER } from '../fixtures/test-mail-side.ts';
import { sample } from '../helpers/metrics.ts';
import { until } from '../helpers/sandbox.ts';

let gw: RunningGateway;
before(async () => {
  gw = await startGateway({ env: { MAX_RECIPIENTS: '3', MESSAGE_SIZE_LIMIT: '20000' } });
});
after(async () => {
  const { code } = await gw.stop();
  assert.equal(code, 0);
});

test('banner names SMTP_HOSTNAME; plaintext EHLO advertises STARTTLS, SIZE, PIPELINING, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES', async () => {
  const { client, banner } = await SmtpTestClient.connect(gw.smtpPort);
  assert.equal(banner.code, 220);
  assert.match(banner.text, /^220 localhost ESMTP/);
  const ehlo = await client.command('EHLO client.test');
  assert.equal(ehlo.code, 250);
  for (const ext of ['STARTTLS', 'SIZE 20000', 'PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES'])
    assert.ok(
      ehlo.lines.some((l) => l.slice(4) === ext),
      `${ext} in ${ehlo.text}`,
    );
  client.end();
});

test('AUTH before STARTTLS is refused with 530 5.7.0; MAIL without AUTH with 530 5.7.0', async () => {
  const { client } = await SmtpTestClient.connect(gw.smtpPort);
  await client.command('EHLO client.test');
  const auth = await client.command(
    'AUTH PLAIN ' + Buffer.from(`\0${TEST_USER}\0${TEST_PASSWORD}`).toString('base64'),
  );
  assert.equal(auth.text, '530 5.7.0 Must issue a STARTTLS command first');
  const mail = await client.command('MAIL FROM:<a@b.example>');
  assert.equal(mail.text, '530 5.7.0 Authentication required');
  client.end();
});

test('STARTTLS negotiates TLS >= 1.2 and AUTH PLAIN succeeds; wrong password gets 535 5.7.8', async () => {
  const { client } = await SmtpTestClient.connect(gw.smtpPort);
  const ok = await client.login(TEST_USER, TEST_PASSWORD);
  assert.equal(ok.code, 235);
  assert.ok(['TLSv1.2', 'TLSv1.3'].includes(client.tlsSocket!.getProtocol()!));
  client.end();
  const { client: bad } = await SmtpTestClient.connect(gw.smtpPort);
  const refused = await bad.login(TEST_USER, 'wrong');
  assert.equal(refused.code, 535);
  assert.match(refused.text, /^535 5\.7\.8 /);
  bad.end();
});

test('a message is accepted with 250 2.0.0 Ok: queued as <id>', async () => {
  const { client } = await SmtpTestClient.connect(gw.smtpPort);
  await client.login(TEST_USER, TEST_PASSWORD);
  const reply = await sendMail(client, ['a@example.com'], message('hi'));
  assert.match(reply.text, /^250 2\.0\.0 Ok: queued as T\d+x\d+$/);
  client.end();
});

test('recipients above MAX_RECIPIENTS get 452 4.5.3', async () => {
  const { client } = await SmtpTestClient.connect(gw.smtpPort);
  await client.login(TEST_USER, TEST_PASSWORD);
  await client.command('MAIL FROM:<user@test.example>');
  for (const r of ['a', 'b', 'c'])
    assert.equal((await client.command(`RCPT TO:<${r}@example.com>`)).code, 250);
  const fourth = await client.command('RCPT TO:<d@example.com>');
  assert.match(fourth.text, /^452 4\.5\.3 /);
  client.end();
});

test('an oversize message is refused with 552 5.3.4 after streaming, and the session goes on', async () => {
  const { client } = await SmtpTestClient.connect(gw.smtpPort);
  await client.login(TEST_USER, TEST_PASSWORD);
  const reply = await sendMail(
    client,
    ['a@example.com'],
    message('big', 'x'.repeat(76) + '\r\n'.repeat(1) + ('y'.repeat(998) + '\r\n').repeat(30)),
  );
  assert.match(reply.text, /^552 5\.3\.4 /);
  const next = await sendMail(client, ['a@example.com'], message('small'));
  assert.equal(next.code, 250);
  client.end();
});

test('a deliverer refusal is passed through with our enhanced code', async () => {
  const { client } = await SmtpTestClient.connect(gw.smtpPort);
  await client.login(TEST_USER, TEST_PASSWORD);
  const reply = await sendMail(client, ['a@example.com'], message('x', 'body\r\n', 'X-Test-Reply: 451\r\n'));
  assert.equal(reply.text, '451 4.3.0 Cakemail API unavailable, try again later');
  client.end();
});

test('idle timeout: a silent client gets 421 and is disconnected', async () => {
  const idle = await startGateway({ env: { CONNECTION_TIMEOUT: '1', SMTP_WORKERS: '1' } });
  try {
    const { client } = await SmtpTestClient.connect(idle.smtpPort);
    await client.command('EHLO client.test');
    const reply = await client.read(10_000); // nothing sent: the server speaks first
    assert.equal(reply.code, 421);
    await client.closedPromise();
  } finally {
    await idle.stop();
  }
});

test('TRUSTED_NETWORKS bypass the per-IP connection limit', async () => {
  const trusted = await startGateway({
    env: { MAX_CONNECTIONS_PER_IP: '1', TRUSTED_NETWORKS: '127.0.0.0/8' },
  });
  try {
    const a = await SmtpTestClient.connect(trusted.smtpPort);
    const b = await SmtpTestClient.connect(trusted.smtpPort);
    assert.equal(a.banner.code, 220);
    assert.equal(b.banner.code, 220);
    a.client.end();
    b.client.end();
  } finally {
    await trusted.stop();
  }
});

test('MAX_CONNECTIONS_PER_POD holds across workers, even for trusted networks', async () => {
  const pod = await startGateway({ env: { MAX_CONNECTIONS_PER_POD: '2', TRUSTED_NETWORKS: '127.0.0.0/8' } });
  try {
    const a = await SmtpTestClient.connect(pod.smtpPort);
    const b = await SmtpTestClient.connect(pod.smtpPort);
    const c = await SmtpTestClient.connect(pod.smtpPort);
    assert.equal(a.banner.code, 220);
    assert.equal(b.banner.code, 220);
    assert.equal(c.banner.text, '421 4.7.0 Too many connections to this server, try again later');
    a.client.end();
    b.client.end();
  } finally {
    await pod.stop();
  }
});

test('admission is asked at accept: connections that leave before their banner are given back to the pod count', async () => {
  const pod = await startGateway({ env: { MAX_CONNECTIONS_PER_POD: '1' } });
  const podCount = async () => sample((await pod.http('/metrics')).body, 'gateway_pod_connections');
  try {
    // Gone within smtp-server's 100 ms early-talker wait: the primary was asked and counted
    // each at accept; every count must come back or the pod would refuse everyone after one.
    await Promise.all(
      Array.from(
        { length: 20 },
        () =>
          new Promise<void>((resolve, reject) => {
            const s = connect(pod.smtpPort, '127.0.0.1', () => s.destroy());
            s.on('close', () => resolve());
            s.on('error', reject);
          }),
      ),
    );
    await until(async () => (await podCount()) === 0, 'pod connection count back to 0');
    const held = await SmtpTestClient.connect(pod.smtpPort);
    assert.equal(held.banner.code, 220, held.banner.text);
    assert.equal(await podCount(), 1);
    const extra = await SmtpTestClient.connect(pod.smtpPort);
    assert.equal(extra.banner.text, '421 4.7.0 Too many connections to this server, try again later');
    held.client.end();
    await until(async () => (await podCount()) === 0, 'pod connection count back to 0 after QUIT-less close');
  } finally {
    await pod.stop();
  }
});

test('a client that leaves in the middle of DATA is logged as such, not as an internal error', async () => {
  const mark = gw.lines.length;
  const { client } = await SmtpTestClient.connect(gw.smtpPort);
  assert.equal((await client.login(TEST_USER, TEST_PASSWORD)).code, 235);
  assert.equal((await client.command('MAIL FROM:<user@test.example>')).code, 250);
  assert.equal((await client.command('RCPT TO:<rcpt@example.com>')).code, 250);
  assert.equal((await client.command('DATA')).code, 354);
  client.write('Subject: cut short\r\n\r\nhalf a body');
  client.destroy();
  const aborted = await gw.waitForLog((l) => l.event === 'smtp.data_aborted', 10_000, mark);
  assert.equal(aborted.level, 30);
  const errors = gw.lines.slice(mark).filter((l) => Number(l.level) >= 50);
  assert.deepEqual(errors, []);
});

test('AUTH_TIMEOUT: a client that keeps talking but never authenticates is closed with 421 4.7.0 (slowloris bound)', async () => {
  const slow = await startGateway({
    env: { AUTH_TIMEOUT: '2', CONNECTION_TIMEOUT: '60', SMTP_WORKERS: '1' },
  });
  try {
    const { client } = await SmtpTestClient.connect(slow.smtpPort);
    await client.command('EHLO client.test');
    // A trickling client: one byte of a never-ending command line every 100 ms keeps the
    // idle timer from firing; only the time since connect ends it.
    const reply = client.read(15_000);
    let trickling = true;
    void (async () => {
      while (trickling && !client.closed) {
        client.write('x');
        await new Promise((r) => setTimeout(r, 100)); // the client's pace, not a synchronisation
      }
    })();
    const last = await reply;
    trickling = false;
    assert.equal(last.text, '421 4.7.0 Authentication not completed in time, closing connection');
    await client.closedPromise();
    // An authenticated session is not affected.
    const { client: ok } = await SmtpTestClient.connect(slow.smtpPort);
    assert.equal((await ok.login(TEST_USER, TEST_PASSWORD)).code, 235);
    await slow.waitForLog((l) => l.event === 'smtp.auth_timeout');
    assert.equal((await ok.command('NOOP')).code, 250);
    ok.end();
  } finally {
    await slow.stop();
  }
});
