// RFC conformance of the submission dialogue against a real gateway: what smtp-server
// left to the application (plaintext AUTH exchanges, ESMTP parameters nobody honours).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { SmtpTestClient, message } from '../helpers/smtp-client.ts';
import { TEST_PASSWORD, TEST_USER } from '../fixtures/test-mail-side.ts';

let gw: RunningGateway;
before(async () => {
  gw = await startGateway({ env: { MESSAGE_SIZE_LIMIT: '20000' } });
});
after(async () => {
  const { code } = await gw.stop();
  assert.equal(code, 0);
});

const b64 = (s: string) => Buffer.from(s).toString('base64');
const TLS_FIRST = '530 5.7.0 Must issue a STARTTLS command first';

/** A session after EHLO, STARTTLS and EHLO again: ready for AUTH. */
async function tlsSession(): Promise<SmtpTestClient> {
  const { client } = await SmtpTestClient.connect(gw.smtpPort);
  await client.command('EHLO client.test');
  await client.starttls();
  await client.command('EHLO client.test');
  return client;
}

async function authenticated(): Promise<SmtpTestClient> {
  const { client } = await SmtpTestClient.connect(gw.smtpPort);
  const reply = await client.login(TEST_USER, TEST_PASSWORD);
  assert.equal(reply.code, 235, reply.text);
  return client;
}

test('AUTH LOGIN and AUTH PLAIN without an initial response on a plaintext session: 530 at once, no 334 asking for credentials (RFC 4954 4, RFC 3207 4)', async () => {
  const { client } = await SmtpTestClient.connect(gw.smtpPort);
  await client.command('EHLO client.test');
  const from = gw.lines.length;
  // Before: 334 VXNlcm5hbWU6 / 334 UGFzc3dvcmQ6, the password in the clear, then 530.
  assert.equal((await client.command('AUTH LOGIN')).text, TLS_FIRST);
  assert.equal((await client.command('AUTH PLAIN')).text, TLS_FIRST);
  assert.equal((await client.command('auth login')).text, TLS_FIRST);
  // The session goes on: nothing was left waiting for a continuation line.
  assert.equal((await client.command('NOOP')).code, 250);
  const refused = await gw.waitForLog(
    (l) => l.event === 'smtp.auth' && l.reason === 'tls_required' && l.method === 'LOGIN',
    10_000,
    from,
  );
  assert.equal(refused.outcome, 'failure');
  // The same client, after STARTTLS: the whole LOGIN exchange.
  assert.equal((await client.starttls()).code, 220);
  await client.command('EHLO client.test');
  assert.equal((await client.command('AUTH LOGIN')).text, '334 VXNlcm5hbWU6');
  assert.equal((await client.command(b64(TEST_USER))).text, '334 UGFzc3dvcmQ6');
  assert.equal((await client.command(b64(TEST_PASSWORD))).code, 235);
  client.end();
});

test('AUTH PLAIN without an initial response after STARTTLS: 334, then the token; `*` cancels with 501 (RFC 4954 4)', async () => {
  const client = await tlsSession();
  assert.equal((await client.command('AUTH PLAIN')).code, 334);
  assert.equal((await client.command('*')).code, 501);
  assert.equal((await client.command('AUTH PLAIN')).code, 334);
  assert.equal((await client.command(b64(`\0${TEST_USER}\0${TEST_PASSWORD}`))).code, 235);
  client.end();
});

test('AUTH PLAIN with an authzid: the username itself is fine, another identity is refused (RFC 4616 2)', async () => {
  const client = await tlsSession();
  const other = await client.command(
    `AUTH PLAIN ${b64(`boss@test.example\0${TEST_USER}\0${TEST_PASSWORD}`)}`,
  );
  assert.equal(
    other.text,
    '535 5.7.8 Authentication failed: acting as another identity (AUTH PLAIN authzid) is not supported',
  );
  // Clients that put the username in the authzid too, or only there, still get in.
  const self = await client.command(`AUTH PLAIN ${b64(`${TEST_USER}\0${TEST_USER}\0${TEST_PASSWORD}`)}`);
  assert.equal(self.code, 235, self.text);
  client.end();
});

test('MAIL FROM and RCPT TO parameters the gateway does not honour get 555 5.5.4, hidden DSN and REQUIRETLS included (RFC 5321 4.1.1.11)', async () => {
  const client = await authenticated();
  for (const params of ['RET=FULL', 'ENVID=abc', 'REQUIRETLS', 'X-UNKNOWN=1', 'SIZE=100 FOO']) {
    const reply = await client.command(`MAIL FROM:<user@test.example> ${params}`);
    assert.equal(reply.code, 555, `${params}: ${reply.text}`);
    assert.match(reply.text, /^555 5\.5\.4 MAIL FROM parameter [A-Z-]+ not supported$/);
  }
  assert.equal((await client.command('MAIL FROM:<user@test.example>')).code, 250);
  for (const params of ['NOTIFY=SUCCESS,FAILURE', 'ORCPT=rfc822;a@example.com', 'notify=never', 'XYZ']) {
    const reply = await client.command(`RCPT TO:<a@example.com> ${params}`);
    assert.equal(reply.code, 555, `${params}: ${reply.text}`);
    assert.match(reply.text, /^555 5\.5\.4 RCPT TO parameter [A-Z]+ not supported$/);
  }
  // No recipient was taken: DATA has none to send to.
  assert.equal((await client.command('DATA')).code, 503);
  assert.equal((await client.command('RCPT TO:<a@example.com>')).code, 250);
  assert.equal((await client.command('DATA')).code, 354);
  client.write(message('after refused parameters') + '\r\n.\r\n');
  assert.match((await client.read()).text, /^250 2\.0\.0 Ok: queued as /);
  client.end();
});

test('the MAIL FROM parameters real clients send are accepted: SIZE, BODY=8BITMIME, SMTPUTF8, AUTH=<> (RFC 1870, 6152, 6531, 4954 5)', async () => {
  const client = await authenticated();
  const mail = await client.command('mail from:<user@test.example> SIZE=300 BODY=8BITMIME SMTPUTF8 AUTH=<>');
  assert.equal(mail.code, 250, mail.text);
  assert.equal((await client.command('rcpt to:<a@example.com>')).code, 250);
  assert.equal((await client.command('data')).code, 354);
  client.write(message('all parameters', 'Caf\u00e9 cr\u00e8me.\r\n') + '\r\n.\r\n');
  assert.match((await client.read()).text, /^250 2\.0\.0 Ok: queued as /);
  // A second transaction in the same session, with the empty reverse path.
  assert.equal((await client.command('MAIL FROM:<> AUTH=<>')).code, 250);
  client.end();
});

test('pipelined MAIL, RCPT with NOTIFY and DATA: 250, 555, 503 in order; the session stays usable (RFC 2920)', async () => {
  const client = await authenticated();
  client.write('MAIL FROM:<user@test.example>\r\nRCPT TO:<a@example.com> NOTIFY=SUCCESS\r\nDATA\r\n');
  assert.equal((await client.read()).code, 250);
  assert.equal((await client.read()).code, 555);
  assert.equal((await client.read()).code, 503);
  assert.equal((await client.command('RSET')).code, 250);
  assert.equal((await client.command('NOOP')).code, 250);
  client.end();
});
