// MIME over real SMTP → the real gateway → the sandbox: several recipients, charsets
// (ISO-2022-JP, Windows-1252 in 8bit), nested multipart with attachments, and the
// refusals (malformed MIME 554 5.6.0, unsupported attachment 554 5.6.1) that leave the
// outbox empty.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { replyLine } from '../../src/smtp/replies.ts';
import {
  assertReply,
  authedClient,
  mime,
  outboxOf,
  req,
  sendBytes,
  sendOnce,
  startE2E,
  type E2E,
} from '../helpers/sandbox.ts';

let e: E2E;
before(async () => {
  e = await startE2E();
});
after(async () => {
  await e?.stop();
});
beforeEach(() => e.reset());

/** The outbox stays empty: every accepted email is recorded before the 201, so "now" is final. */
function assertOutboxEmpty() {
  assert.deepEqual(e.sb.outbox(), []);
  assert.equal(e.sb.stats().emails, 0, 'no POST /v2/emails at all');
}

test('3 recipients → 3 outbox entries, one per recipient, same content', async () => {
  const rcpts = ['one@example.com', 'two@example.org', 'three@example.net'];
  const raw = mime(
    [
      'From: demo@cakemail.test',
      `To: ${rcpts.join(', ')}`,
      'Subject: to three',
      'Message-ID: <three@x.test>',
    ],
    'Same body for all.\r\n',
  );
  const reply = await sendOnce(e.gw.smtpPort, rcpts, raw);
  assert.equal(reply.code, 250, reply.text);
  const entries = await outboxOf(e.sb, 3);
  assert.deepEqual(entries.map((x) => req(x).email).sort(), [...rcpts].sort());
  for (const x of entries) {
    const { email: _email, ...rest } = req(x);
    assert.deepEqual(rest, {
      sender: { id: 'snd-1001-demo' },
      content: {
        subject: 'to three',
        text: 'Same body for all.\n',
        encoding: 'utf-8',
        type: 'transactional',
      },
      additional_headers: [{ name: 'Message-ID', value: '<three@x.test>' }],
    });
  }
});

test('ISO-2022-JP subject (encoded word) and body (7bit) arrive decoded as UTF-8', async () => {
  // Python's iso2022_jp codec: 日本語の件名 and 日本語のテスト、こんにちは
  const subject = Buffer.from('1b2442467c4b5c386c244e376f4c3e1b2842', 'hex');
  const body = Buffer.from('1b2442467c4b5c386c244e254625392548212224332473244b2441244f1b2842', 'hex');
  const raw = mime(
    [
      'From: demo@cakemail.test',
      `Subject: =?ISO-2022-JP?B?${subject.toString('base64')}?=`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=ISO-2022-JP',
      'Content-Transfer-Encoding: 7bit',
    ],
    Buffer.concat([body, Buffer.from('\r\n')]),
  );
  const reply = await sendOnce(e.gw.smtpPort, ['jp@example.jp'], raw);
  assert.equal(reply.code, 250, reply.text);
  const [entry] = await outboxOf(e.sb, 1);
  assert.equal(req(entry!).content.subject, '日本語の件名');
  assert.equal(req(entry!).content.text, '日本語のテスト、こんにちは\n');
  assert.equal(req(entry!).content.encoding, 'utf-8');
});

test('Windows-1252 8bit body and Q-encoded subject arrive decoded as UTF-8', async () => {
  // cp1252: "café € “quoted” – naïve" and "Prix: 10 € – déjà vu" (0x80 €, 0x93/0x94 quotes, 0x96 dash)
  const body = Buffer.from('636166e92080209371756f746564942096206e61ef7665', 'hex');
  const raw = mime(
    [
      'From: demo@cakemail.test',
      'Subject: =?windows-1252?Q?Prix:_10_=80_=96_d=E9j=E0_vu?=',
      'MIME-Version: 1.0',
      'Content-Type: multipart/alternative; boundary="alt"',
    ],
    Buffer.concat([
      Buffer.from(
        '--alt\r\nContent-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: 8bit\r\n\r\n',
      ),
      body,
      Buffer.from(
        '\r\n--alt\r\nContent-Type: text/html; charset=windows-1252\r\nContent-Transfer-Encoding: 8bit\r\n\r\n<p>',
      ),
      body,
      Buffer.from('</p>\r\n--alt--\r\n'),
    ]),
  );
  const reply = await sendOnce(e.gw.smtpPort, ['fr@example.fr'], raw);
  assert.equal(reply.code, 250, reply.text);
  const [entry] = await outboxOf(e.sb, 1);
  assert.equal(req(entry!).content.subject, 'Prix: 10 € – déjà vu');
  assert.equal(req(entry!).content.text, 'café € “quoted” – naïve');
  assert.equal(req(entry!).content.html, '<p>café € “quoted” – naïve</p>');
});

// The charsets of test/unit/mail-charsets.test.ts, each end to end once, over the three
// transfer encodings in turn, all in one SMTP session (one transaction per message).
const SAMPLES = [
  { charset: 'ISO-8859-1', bytes: '4772fcdf6520e0206c276869766572', text: "Grüße à l'hiver" },
  { charset: 'windows-1252', bytes: '636166e9208020937194', text: 'café € “q”' },
  { charset: 'ISO-2022-JP', bytes: '1b2442467c4b5c386c1b2842', text: '日本語' },
  { charset: 'Shift_JIS', bytes: '93fa967b8cea8365834c83588367', text: '日本語テキスト' },
  { charset: 'KOI8-R', bytes: 'f0d2c9d7c5d420cdc9d2', text: 'Привет мир' },
  { charset: 'UTF-8', bytes: Buffer.from('Zoë ✓ 日本').toString('hex'), text: 'Zoë ✓ 日本' },
];

function qp(bytes: Buffer): string {
  return [...bytes]
    .map((b) =>
      b >= 0x21 && b <= 0x7e && b !== 0x3d
        ? String.fromCharCode(b)
        : `=${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

test('every charset sample travels end to end (subject and body decoded to UTF-8)', async () => {
  const client = await authedClient(e.gw.smtpPort);
  const ctes = ['8bit', 'quoted-printable', 'base64'] as const;
  for (const [i, { charset, bytes }] of SAMPLES.entries()) {
    const raw = Buffer.from(bytes, 'hex');
    const cte = ctes[i % ctes.length]!;
    const body =
      cte === 'base64'
        ? raw.toString('base64')
        : cte === 'quoted-printable'
          ? qp(raw)
          : raw.toString('latin1');
    const msg = mime(
      [
        'From: demo@cakemail.test',
        `Subject: =?${charset}?B?${raw.toString('base64')}?=`,
        `Content-Type: text/plain; charset="${charset}"`,
        `Content-Transfer-Encoding: ${cte}`,
      ],
      Buffer.from(`${body}\r\n`, 'latin1'),
    );
    const reply = await sendBytes(
      client,
      'demo@cakemail.test',
      [`${charset.toLowerCase()}@example.com`],
      msg,
    );
    assert.equal(reply.code, 250, `${charset}: ${reply.text}`);
  }
  client.end();
  const entries = await outboxOf(e.sb, SAMPLES.length);
  for (const [i, { charset, text }] of SAMPLES.entries()) {
    const entry = entries.find((x) => req(x).email === `${charset.toLowerCase()}@example.com`);
    assert.ok(entry, charset);
    assert.equal(req(entry).content.subject, text, charset);
    // The line break after base64 data is not content; after 8bit or QP text it is.
    const eol = ctes[i % ctes.length] === 'base64' ? '' : '\n';
    assert.equal(req(entry).content.text, `${text}${eol}`, charset);
  }
});

test('nested multipart (mixed > alternative + attachments): bodies and every attachment travel', async () => {
  const csv = 'month,total\r\nmarch,42\r\n';
  const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
  const raw = mime(
    [
      'From: Reports <demo@cakemail.test>',
      'To: team@example.org',
      'Cc: boss@example.org',
      'Subject: Monthly report',
      'Message-ID: <nested@x.test>',
      'Reply-To: desk@example.com',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="outer"',
    ],
    [
      'preamble',
      '--outer',
      'Content-Type: multipart/alternative; boundary="inner"',
      '',
      '--inner',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Plain report.',
      '--inner',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<p>HTML <b>report</b>.</p>',
      '--inner--',
      '',
      '--outer',
      'Content-Type: text/csv; name="figures.csv"',
      'Content-Disposition: attachment; filename="figures.csv"',
      '',
      'month,total',
      'march,42',
      '',
      '--outer',
      'Content-Type: image/png',
      'Content-Disposition: attachment; filename="chart.png"',
      'Content-Transfer-Encoding: base64',
      '',
      png.toString('base64'),
      '--outer--',
      '',
    ].join('\r\n'),
  );
  const reply = await sendOnce(e.gw.smtpPort, ['team@example.org'], raw);
  assert.equal(reply.code, 250, reply.text);
  const [entry] = await outboxOf(e.sb, 1);
  assert.deepEqual(entry!.request, {
    email: 'team@example.org',
    sender: { id: 'snd-1001-demo', name: 'Reports' },
    content: {
      subject: 'Monthly report',
      html: '<p>HTML <b>report</b>.</p>',
      text: 'Plain report.',
      encoding: 'utf-8',
      type: 'transactional',
    },
    // Cc is never forwarded (the API refuses it)
    additional_headers: [
      { name: 'Message-ID', value: '<nested@x.test>' },
      { name: 'Reply-To', value: 'desk@example.com' },
    ],
    attachment: [
      { filename: 'figures.csv', type: 'csv', content: Buffer.from(csv).toString('base64') },
      { filename: 'chart.png', type: 'png', content: png.toString('base64') },
    ],
  });
});

test('malformed MIME (multipart whose boundary never appears) → 554 5.6.0, outbox empty', async () => {
  const raw = mime(
    ['From: demo@cakemail.test', 'Subject: broken', 'Content-Type: multipart/mixed; boundary="nope"'],
    '--other\r\nContent-Type: text/plain\r\n\r\nlost\r\n--other--\r\n',
  );
  const reply = await sendOnce(e.gw.smtpPort, ['a@example.com'], raw);
  assertReply(
    reply,
    replyLine('mimeInvalid', {
      detail: 'the message is multipart/mixed but its boundary never appears, so it has no parts',
    }),
  );
  assertOutboxEmpty();
});

test('malformed MIME (invalid base64 in a part) → 554 5.6.0 naming the part, outbox empty', async () => {
  const raw = mime(
    ['From: demo@cakemail.test', 'Subject: bad base64', 'Content-Type: multipart/mixed; boundary="b"'],
    '--b\r\nContent-Type: text/plain\r\n\r\ntext\r\n--b\r\nContent-Type: application/pdf\r\n' +
      'Content-Transfer-Encoding: base64\r\n\r\nJVBER*i0x\r\n--b--\r\n',
  );
  const reply = await sendOnce(e.gw.smtpPort, ['a@example.com'], raw);
  assert.equal(reply.code, 554, reply.text);
  assert.match(
    reply.text,
    /^554 5\.6\.0 Message cannot be converted for Cakemail: part 2 is not valid base64/,
  );
  assertOutboxEmpty();
});

test('unsupported attachment (zip) → 554 5.6.1 naming the part, outbox empty', async () => {
  const raw = mime(
    ['From: demo@cakemail.test', 'Subject: Archive', 'Content-Type: multipart/mixed; boundary="b1"'],
    [
      '--b1',
      'Content-Type: text/plain',
      '',
      'The archive.',
      '--b1',
      'Content-Type: application/zip; name="files.zip"',
      'Content-Disposition: attachment; filename="files.zip"',
      'Content-Transfer-Encoding: base64',
      '',
      'UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==',
      '--b1--',
      '',
    ].join('\r\n'),
  );
  const reply = await sendOnce(e.gw.smtpPort, ['a@example.com', 'b@example.com'], raw);
  assertReply(
    reply,
    replyLine('contentUnsupported', {
      part: 'files.zip',
      detail: 'type application/zip is not among csv, doc, docx, calendar (ics), jpeg, pdf, png, xls, xlsx',
    }),
  );
  assertOutboxEmpty();
});
