// A pipelining client's MAIL, RCPT and DATA are answered in one TLS record (one write,
// one wake-up of the client) instead of three: src/smtp/reply-coalescing.ts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { SmtpTestClient } from '../helpers/smtp-client.ts';
import { TEST_PASSWORD, TEST_USER } from '../fixtures/test-mail-side.ts';

let gw: RunningGateway;
before(async () => {
  gw = await startGateway();
});
after(async () => {
  await gw.stop();
});

test('pipelined MAIL/RCPT/DATA: the three replies arrive in one TLS record, then the mail is accepted', async () => {
  const { client } = await SmtpTestClient.connect(gw.smtpPort);
  const auth = await client.login(TEST_USER, TEST_PASSWORD);
  assert.equal(auth.code, 235, auth.text);
  const tls = client.tlsSocket!;
  // Each TLS record decrypts into its own 'data' event.
  const records: string[] = [];
  tls.on('data', (d: string | Buffer) => records.push(String(d)));
  client.write('MAIL FROM:<sender@example.com>\r\nRCPT TO:<to@example.com>\r\nDATA\r\n');
  const replies = [await client.read(), await client.read(), await client.read()];
  assert.deepEqual(
    replies.map((r) => r.code),
    [250, 250, 354],
  );
  assert.equal(records.length, 1, `one record, got ${JSON.stringify(records)}`);
  client.write('Subject: coalesced\r\n\r\nbody\r\n.\r\n');
  const done = await client.read();
  assert.equal(done.code, 250, done.text);
  const quit = await client.command('QUIT');
  assert.equal(quit.code, 221);
  await client.closedPromise();
});
