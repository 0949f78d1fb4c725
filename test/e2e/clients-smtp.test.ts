// Real clients (nodemailer, swaks, Python smtplib) against the real gateway with the in-test mail side:
// STARTTLS + AUTH PLAIN/LOGIN; and the captured logs never contain the password.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import nodemailer from 'nodemailer';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { HAVE_SWAKS, pythonSmtplib, swaks } from '../helpers/clients.ts';
import { TEST_PASSWORD, TEST_USER } from '../fixtures/test-mail-side.ts';

let gw: RunningGateway;
before(async () => {
  gw = await startGateway({ env: { LOG_LEVEL: 'trace' } });
});
after(async () => {
  await gw.stop();
});

for (const method of ['PLAIN', 'LOGIN'] as const) {
  test(`nodemailer: STARTTLS + AUTH ${method} + send`, async () => {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: gw.smtpPort,
      secure: false,
      requireTLS: true,
      auth: { user: TEST_USER, pass: TEST_PASSWORD, method },
      tls: { rejectUnauthorized: false },
    });
    const info = await transport.sendMail({
      from: TEST_USER,
      to: 'a@example.com',
      subject: 'hi',
      text: 'hello',
    });
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as /);
    transport.close();
  });
}

test('swaks: STARTTLS + AUTH PLAIN + send', { skip: !HAVE_SWAKS && 'swaks not installed' }, async () => {
  const res = await swaks(gw.smtpPort, TEST_USER, TEST_PASSWORD);
  assert.equal(res.code, 0, res.stdout + res.stderr);
  assert.match(res.stdout, /<~ {2}250 2\.0\.0 Ok: queued as /);
  const bad = await swaks(gw.smtpPort, TEST_USER, 'nope');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stdout, /535 5\.7\.8/);
});

for (const mechanism of ['PLAIN', 'LOGIN']) {
  test(`Python smtplib: STARTTLS + AUTH ${mechanism} + sendmail`, async () => {
    const res = await pythonSmtplib(
      gw.smtpPort,
      TEST_USER,
      TEST_PASSWORD,
      ['a@example.com'],
      'Subject: py\r\n\r\nhello\r\n',
      mechanism,
    );
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /AUTH 235/);
    assert.match(res.stdout, /SENT 250/);
  });
}

test('captured logs (trace level) contain neither the password nor an AUTH payload', async () => {
  await gw.waitForLog((l) => l.event === 'smtp.auth' && l.outcome === 'success');
  const all = gw.rawOutput.join('\n');
  assert.ok(all.includes('smtp.auth'), 'AUTH outcomes are logged');
  assert.ok(!all.includes(TEST_PASSWORD), 'password in logs');
  for (const payload of [
    Buffer.from(`\0${TEST_USER}\0${TEST_PASSWORD}`).toString('base64'),
    Buffer.from(TEST_PASSWORD).toString('base64'),
  ])
    assert.ok(!all.includes(payload), 'AUTH payload in logs');
});
