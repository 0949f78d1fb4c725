// Real SMTP clients (nodemailer, Python smtplib, swaks) → the real gateway → the sandbox
// Cakemail API: what lands in the outbox is exactly what was sent; and the per-worker
// token cache asks /token once per worker, not once per session.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, beforeEach, test } from 'node:test';
import nodemailer from 'nodemailer';
import { HAVE_SWAKS, pythonSmtplib, swaks } from '../helpers/clients.ts';
import { DEMO, authedClient, outboxOf, req, sendBytes, startE2E, type E2E } from '../helpers/sandbox.ts';

let e: E2E;
before(async () => {
  e = await startE2E();
});
after(async () => {
  await e?.stop();
});
beforeEach(() => e.reset());

const transport = () =>
  nodemailer.createTransport({
    host: '127.0.0.1',
    port: e.gw.smtpPort,
    secure: false,
    requireTLS: true,
    auth: { user: DEMO.user, pass: DEMO.pass },
    tls: { rejectUnauthorized: false },
  });

test('nodemailer html + text + PDF: the outbox request is exactly what was sent', async () => {
  // Binary content with every byte value, so any re-encoding slip shows.
  const pdf = Buffer.concat([
    Buffer.from('%PDF-1.4\n'),
    Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
    randomBytes(48 * 1024),
  ]);
  const sent = {
    from: '"Demo Person" <demo@cakemail.test>',
    to: 'rcpt@example.com',
    subject: 'Quarterly report — Q3 ✓',
    text: 'Line one\nLine two: café €\n',
    html: '<p>Hello <b>world</b> — café €</p>',
    messageId: '<q3-report-1@cakemail.test>',
    headers: { 'X-Campaign': 'q3-2026' },
    attachments: [{ filename: 'Report Q3 (final).pdf', content: pdf, contentType: 'application/pdf' }],
  };
  const t = transport();
  const info = await t.sendMail(sent);
  t.close();
  assert.match(info.response, /^250 2\.0\.0 Ok: queued as [0-9A-Z]+$/);
  assert.deepEqual(info.accepted, ['rcpt@example.com']);

  const [entry] = await outboxOf(e.sb, 1);
  assert.equal(entry!.username, DEMO.user);
  assert.equal(entry!.accountId, 1001);
  // Strict: the whole request, field by field, nothing more and nothing less.
  assert.deepEqual(entry!.request, {
    email: 'rcpt@example.com',
    sender: { id: DEMO.senderId, name: 'Demo Person' },
    content: {
      subject: sent.subject,
      html: sent.html,
      text: sent.text,
      encoding: 'utf-8',
      type: 'transactional',
    },
    additional_headers: [
      { name: 'X-Campaign', value: 'q3-2026' },
      { name: 'Message-ID', value: sent.messageId },
    ],
    attachment: { filename: 'Report_Q3_final.pdf', type: 'pdf', content: pdf.toString('base64') },
  });
  const attachment = req(entry!).attachment as { content: string };
  assert.ok(Buffer.from(attachment.content, 'base64').equals(pdf), 'attachment bytes identical');
  const stats = e.sb.stats();
  assert.equal(stats.emails, 1, 'one POST /v2/emails');
  assert.equal(stats.accepted, 1);
  assert.equal(stats.rejectedInvalid, 0, 'the sandbox validated the request against the OpenAPI schema');
});

test('nodemailer, two large attachments to two recipients: each request carries both, byte for byte', async () => {
  // Large enough that the gateway decodes them itself (NATIVE_BASE64_MIN) and encodes the
  // shared body once for both recipients (email-body.ts).
  const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(300 * 1024)]);
  const png = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), randomBytes(120 * 1024)]);
  const t = transport();
  const info = await t.sendMail({
    from: 'demo@cakemail.test',
    to: ['first@example.com', 'second@example.org'],
    subject: 'Two large files',
    text: 'See attached.\n',
    attachments: [
      { filename: 'big.pdf', content: pdf, contentType: 'application/pdf' },
      { filename: 'big.png', content: png, contentType: 'image/png' },
    ],
  });
  t.close();
  assert.match(info.response, /^250 /);
  const entries = await outboxOf(e.sb, 2);
  assert.deepEqual(entries.map((x) => req(x).email).sort(), ['first@example.com', 'second@example.org']);
  for (const x of entries) {
    const files = req(x).attachment as { filename: string; type: string; content: string }[];
    assert.deepEqual(
      files.map((f) => [f.filename, f.type]),
      [
        ['big.pdf', 'pdf'],
        ['big.png', 'png'],
      ],
    );
    assert.ok(Buffer.from(files[0]!.content, 'base64').equals(pdf), 'PDF bytes identical');
    assert.ok(Buffer.from(files[1]!.content, 'base64').equals(png), 'PNG bytes identical');
  }
  assert.equal(e.sb.stats().rejectedInvalid, 0, 'the sandbox validated both requests against the schema');
});
test('Python smtplib (AUTH LOGIN) → one outbox entry per recipient with the sent content', async () => {
  const message = [
    'From: Demo <demo@cakemail.test>',
    'To: a@example.com, b@example.com',
    'Subject: from smtplib',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Hello from Python. Zoë ✓',
    '',
  ].join('\r\n');
  const res = await pythonSmtplib(
    e.gw.smtpPort,
    DEMO.user,
    DEMO.pass,
    ['a@example.com', 'b@example.com'],
    message,
    'LOGIN',
  );
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /AUTH 235/);
  assert.match(res.stdout, /SENT 250/);
  const entries = await outboxOf(e.sb, 2);
  assert.deepEqual(entries.map((x) => req(x).email).sort(), ['a@example.com', 'b@example.com']);
  for (const x of entries) {
    assert.deepEqual(req(x).sender, { id: DEMO.senderId, name: 'Demo' });
    assert.deepEqual(req(x).content, {
      subject: 'from smtplib',
      text: 'Hello from Python. Zoë ✓\n',
      encoding: 'utf-8',
      type: 'transactional',
    });
  }
});

test('swaks (STARTTLS + AUTH PLAIN) → outbox', { skip: !HAVE_SWAKS && 'swaks not installed' }, async () => {
  const res = await swaks(e.gw.smtpPort, DEMO.user, DEMO.pass, [
    '--to',
    'swaks-rcpt@example.com',
    '--header',
    'Subject: sent by swaks',
    '--body',
    'swaks body line',
  ]);
  assert.equal(res.code, 0, res.stdout + res.stderr);
  assert.match(res.stdout, /<~ {2}250 2\.0\.0 Ok: queued as /);
  const [entry] = await outboxOf(e.sb, 1);
  assert.equal(req(entry!).email, 'swaks-rcpt@example.com');
  assert.equal(req(entry!).sender.id, DEMO.senderId);
  assert.equal(req(entry!).content.subject, 'sent by swaks');
  assert.equal(String(req(entry!).content.text).trimEnd(), 'swaks body line');
});

test('token cache: sessions with the same credentials call /token once per worker', async () => {
  // A user no other test here logs in with, so every worker starts with a cold cache.
  const user = 'other@cakemail.test';
  const from = e.gw.lines.length;
  const sessions = 6;
  for (let i = 0; i < sessions; i++) {
    const client = await authedClient(e.gw.smtpPort, user, 'other-password');
    const r = await sendBytes(client, user, [`t${i}@example.com`], `Subject: cached ${i}\r\n\r\nbody\r\n`);
    assert.equal(r.code, 250, r.text);
    client.end();
  }
  await outboxOf(e.sb, sessions);
  const auths = e.gw.lines
    .slice(from)
    .filter((l) => l.event === 'smtp.auth' && l.outcome === 'success' && l.username === user);
  assert.equal(auths.length, sessions);
  const workers = new Set(auths.map((l) => l.worker));
  assert.ok(workers.size >= 1 && workers.size < sessions);
  assert.equal(e.sb.stats().token, workers.size, `one /token per worker that served (${[...workers]})`);
  assert.equal(e.sb.stats().refresh, 0);
});

test('token cache: two sessions on a one-worker gateway → exactly one /token call', async () => {
  const one = await startE2E({ env: { SMTP_WORKERS: '1' } });
  try {
    for (const i of [1, 2]) {
      const client = await authedClient(one.gw.smtpPort);
      const r = await sendBytes(client, DEMO.user, ['x@example.com'], `Subject: s${i}\r\n\r\nbody ${i}\r\n`);
      assert.equal(r.code, 250, r.text);
      client.end();
    }
    await outboxOf(one.sb, 2);
    assert.equal(one.sb.stats().token, 1);
    assert.equal(one.sb.stats().emails, 2);
  } finally {
    await one.stop();
  }
});
