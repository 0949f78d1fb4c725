// SMTP smuggling and open relay, end to end: real gateway, real Cakemail side, sandbox
// upstream. A DATA body holding a non-standard end-of-data spelling followed by a second
// transaction must stay one message (the smuggled text is body content) or be refused;
// MAIL without AUTH never reaches Cakemail.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { DEMO, authedClient, outboxOf, req, sendOnce, startE2E, type E2E } from '../helpers/sandbox.ts';
import { SmtpTestClient } from '../helpers/smtp-client.ts';

let e: E2E;
before(async () => {
  e = await startE2E();
});
after(async () => {
  await e?.stop();
});
beforeEach(() => e.reset());

const CRLF = '\r\n';
/** The end-of-data spellings of the 2023 SMTP smuggling research, plus a few neighbours. */
const SPELLINGS: Record<string, string> = {
  'LF.LF': '\n.\n',
  'CRLF.LF': '\r\n.\n',
  'LF.CRLF': '\n.\r\n',
  'CR.CR': '\r.\r',
  'CR.CRLF': '\r.\r\n',
  'CRLF.CR': '\r\n.\r',
  'CRLF.NULCRLF': '\r\n.\0\r\n',
  'CRLF..CRLF unstuffed-looking': '\r\n..\r\n',
};

const smuggled = (marker: string) =>
  `MAIL FROM:<${DEMO.user}>${CRLF}RCPT TO:<victim@example.org>${CRLF}DATA${CRLF}` +
  `From: ${DEMO.user}${CRLF}To: victim@example.org${CRLF}Subject: smuggled ${marker}${CRLF}${CRLF}` +
  `evil ${marker}${CRLF}`;

for (const [name, eod] of Object.entries(SPELLINGS)) {
  for (const split of [false, true]) {
    test(`smuggling with ${name}${split ? ' (each byte its own write)' : ''}: one message or a refusal, never two`, async (t) => {
      const marker = `${name.replace(/\W/g, '')}-${split ? 'split' : 'whole'}`;
      const client = await authedClient(e.gw.smtpPort);
      try {
        assert.equal((await client.command(`MAIL FROM:<${DEMO.user}>`)).code, 250);
        assert.equal((await client.command('RCPT TO:<rcpt@example.com>')).code, 250);
        assert.equal((await client.command('DATA')).code, 354);
        const head =
          `From: ${DEMO.user}${CRLF}To: rcpt@example.com${CRLF}Subject: carrier ${marker}${CRLF}${CRLF}` +
          `first part`;
        client.write(head);
        if (split) for (const ch of eod) client.write(ch);
        else client.write(eod);
        client.write(smuggled(marker) + `.${CRLF}`);
        const final = await client.read();
        t.diagnostic(`final reply: ${final.text}`);
        // Had the server ended DATA at the fake terminator, the next replies would be
        // MAIL/RCPT/DATA/354/... instead of the 221 for QUIT.
        const quit = await client.command('QUIT');
        assert.equal(quit.code, 221, `a second transaction was parsed: ${quit.text}`);
        assert.ok(final.code === 250 || final.code >= 500, `final reply ${final.text}`);

        if (final.code === 250) {
          const [entry] = await outboxOf(e.sb, 1);
          const r = req(entry!);
          assert.equal(r.email, 'rcpt@example.com');
          assert.equal(r.content.subject, `carrier ${marker}`);
          const body = String(r.content.text ?? '') + String(r.content.html ?? '');
          assert.match(body, new RegExp(`evil ${marker}`), 'the smuggled text stayed in the body');
        }
        await e.sb.flushOutbox?.();
        assert.ok(
          e.sb.outbox().every((x) => req(x).email !== 'victim@example.org'),
          'nothing for the smuggled recipient',
        );
        assert.ok(e.sb.outbox().length <= 1, `outbox: ${e.sb.outbox().length} entries`);
      } finally {
        client.destroy();
      }
    });
  }
}

test('MAIL without AUTH never relays: 530 before and after STARTTLS, the pipelined body is not a message', async () => {
  const pipelined =
    `MAIL FROM:<${DEMO.user}>${CRLF}RCPT TO:<victim@example.org>${CRLF}DATA${CRLF}` +
    `Subject: relay attempt${CRLF}${CRLF}relay body${CRLF}.${CRLF}`;

  const { client: plain } = await SmtpTestClient.connect(e.gw.smtpPort);
  assert.equal((await plain.command('EHLO relay.test')).code, 250);
  const mail = await plain.command(`MAIL FROM:<${DEMO.user}>`);
  assert.equal(mail.lines.at(-1), '530 5.7.0 Authentication required');
  const rcpt = await plain.command('RCPT TO:<victim@example.org>');
  assert.ok(rcpt.code === 503 || rcpt.code === 530, rcpt.text);
  const data = await plain.command('DATA');
  assert.ok(data.code === 503 || data.code === 530, data.text);
  plain.destroy();

  const { client: secure } = await SmtpTestClient.connect(e.gw.smtpPort);
  await secure.command('EHLO relay.test');
  assert.equal((await secure.starttls()).code, 220);
  await secure.command('EHLO relay.test');
  // a failed AUTH first: it must not leave the session half-authenticated
  const bad = await secure.command('AUTH PLAIN ' + Buffer.from(`\0${DEMO.user}\0wrong`).toString('base64'));
  assert.equal(bad.code, 535, bad.text);
  secure.write(pipelined + `QUIT${CRLF}`);
  const first = await secure.read();
  assert.equal(first.lines.at(-1), '530 5.7.0 Authentication required');
  for (;;) {
    // every later line (RCPT, DATA, the body as commands) is refused until smtp-server cuts the session
    const r = await secure.read();
    if (r.code === 221 || r.code === 421) break;
    assert.ok(r.code >= 400, `accepted after a refused MAIL: ${r.text}`);
  }
  secure.destroy();

  // A legitimate message afterwards: it is the only thing the sandbox ever received.
  const ok = await sendOnce(e.gw.smtpPort, ['rcpt@example.com'], `Subject: legit${CRLF}${CRLF}hello${CRLF}`);
  assert.equal(ok.code, 250, ok.text);
  const [entry] = await outboxOf(e.sb, 1);
  assert.equal(req(entry!).content.subject, 'legit');
  assert.equal(e.sb.stats().emails, 1, 'exactly one POST /v2/emails');
});

/**
 * Sends a message and shuts down the write side right after `after` (the final dot, or the
 * dot and a QUIT), while Cakemail takes 300 ms to answer: the FIN arrives first.
 */
async function halfCloseAfterDot(after: string): Promise<SmtpTestClient> {
  const client = await authedClient(e.gw.smtpPort);
  try {
    assert.equal((await client.command(`MAIL FROM:<${DEMO.user}>`)).code, 250);
    assert.equal((await client.command('RCPT TO:<rcpt@example.com>')).code, 250);
    assert.equal((await client.command('DATA')).code, 354);
    e.sb.setFaults({ latencyMs: 300 });
    client.write(`Subject: half close${CRLF}${CRLF}body${CRLF}.${CRLF}${after}`);
    client.tlsSocket!.end();
    return client;
  } catch (err) {
    client.destroy();
    throw err;
  }
}

test('a client that half-closes after the final dot still gets its 250, then the 221, then the close', async () => {
  const client = await halfCloseAfterDot(`QUIT${CRLF}`);
  try {
    const reply = await client.read(5_000);
    assert.equal(reply.code, 250, reply.text);
    assert.equal((await client.read(5_000)).code, 221);
    await closedWithin(client);
    assert.equal(e.sb.stats().emails, 1);
  } finally {
    client.destroy();
  }
});

test('a client that half-closes after the final dot without QUIT gets its 250 and the gateway closes', async () => {
  const client = await halfCloseAfterDot('');
  try {
    assert.equal((await client.read(5_000)).code, 250);
    // Closed by the gateway once everything before the FIN is answered, not by the idle timeout.
    await closedWithin(client);
  } finally {
    client.destroy();
  }
});

test('a half-closed idle session is closed at once, in plaintext and under TLS', async () => {
  const { client: plain } = await SmtpTestClient.connect(e.gw.smtpPort);
  try {
    assert.equal((await plain.command('EHLO relay.test')).code, 250);
    plain.end();
    await closedWithin(plain);
  } finally {
    plain.destroy();
  }
  const secure = await authedClient(e.gw.smtpPort);
  try {
    secure.tlsSocket!.end();
    await closedWithin(secure);
  } finally {
    secure.destroy();
  }
});

/** The gateway closes the connection; fails (instead of hanging) if it is still open after `ms`. */
async function closedWithin(client: SmtpTestClient, ms = 5_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`connection still open ${ms} ms after the half-close`)), ms);
  });
  try {
    await Promise.race([client.closedPromise(), late]);
  } finally {
    clearTimeout(timer);
  }
}
