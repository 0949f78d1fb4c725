import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { convertMessage } from '../../src/mail/convert.ts';
import { OPTS, assertRefused, fixture, message } from '../helpers/mail-fixtures.ts';
import { assertSchemaValid } from '../helpers/mail-schema.ts';

function header(m: { additionalHeaders: { name: string; value: string }[] }, name: string): string[] {
  return m.additionalHeaders.filter((h) => h.name.toLowerCase() === name.toLowerCase()).map((h) => h.value);
}

describe('convertMessage: bodies and subject', () => {
  it('text-only message gives text and no html', async () => {
    const m = await convertMessage(fixture('text-only.eml'), OPTS);
    assert.equal(m.content.subject, 'Plain');
    assert.equal(m.content.text, 'Just plain text.\nSecond line.\n');
    assert.equal(m.content.html, undefined);
    assert.equal(m.content.encoding, 'utf-8');
    assert.equal(m.content.type, 'transactional');
    assert.deepEqual(m.attachments, []);
    assertSchemaValid(m);
  });

  it('html-only message gives html and no invented text', async () => {
    const m = await convertMessage(fixture('html-only.eml'), OPTS);
    assert.equal(m.content.html, '<p>Only <b>HTML</b> here, café.</p>\n');
    assert.equal(m.content.text, undefined);
    assertSchemaValid(m);
  });

  it('multipart/alternative gives both, nested in multipart/mixed with attachments', async () => {
    const m = await convertMessage(fixture('nested-mixed.eml'), OPTS);
    assert.equal(m.content.subject, 'Monthly report — March');
    assert.equal(m.content.text, 'Please find the March report attached.');
    assert.equal(m.content.html, '<p>Please find the <b>March report</b> attached.</p>');
    assert.deepEqual(
      m.attachments.map((a) => [a.filename, a.type]),
      [
        ['March_report.pdf', 'pdf'],
        ['figures.csv', 'csv'],
        ['Sheet_final.xlsx', 'xlsx'],
        ['photo.jpeg', 'jpeg'],
      ],
    );
    assert.equal(
      Buffer.from(m.attachments[1]?.content ?? '', 'base64').toString(),
      'month,total\r\nmarch,42',
    );
    assert.equal(
      m.attachments[0]?.content,
      'JVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9nPj4KZW5kb2JqCg==',
    );
    assert.deepEqual(m.from, { address: 'reports@example.com', name: 'Reports' });
    assertSchemaValid(m);
  });

  it('text and html side by side in multipart/mixed: the HTML version carries the text too', async () => {
    const raw = message(
      ['From: a@example.com', 'Subject: mixed', 'Content-Type: multipart/mixed; boundary=b'],
      '--b\r\nContent-Type: text/plain\r\n\r\nIntro text.\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>Rich part</p>\r\n--b--\r\n',
    );
    const m = await convertMessage(raw, OPTS);
    assert.match(m.content.html ?? '', /Intro text\./);
    assert.match(m.content.html ?? '', /<p>Rich part<\/p>/);
    assert.match(m.content.text ?? '', /^Intro text\./);
    assertSchemaValid(m);
  });

  it('refuses a message without Subject, or with an empty one, saying the API requires it', async () => {
    await assertRefused(
      convertMessage(message(['From: a@example.com']), OPTS),
      'mimeInvalid',
      'requires a non-empty subject',
    );
    await assertRefused(
      convertMessage(message(['From: a@example.com', 'Subject:   ']), OPTS),
      'mimeInvalid',
      'requires a non-empty subject',
    );
    await assertRefused(
      convertMessage(message(['From: a@example.com', 'Subject: =?utf-8?B??=']), OPTS),
      'mimeInvalid',
      'Subject',
    );
  });

  it('refuses a message without text or HTML body', async () => {
    await assertRefused(
      convertMessage(message(['Subject: s'], ''), OPTS),
      'mimeInvalid',
      'no text or HTML body',
    );
    await assertRefused(
      convertMessage(message(['Subject: s'], '\r\n  \r\n'), OPTS),
      'mimeInvalid',
      'no text or HTML',
    );
    const onlyPdf = message(
      ['Subject: s', 'Content-Type: application/pdf', 'Content-Transfer-Encoding: base64'],
      'JVBERg==\r\n',
    );
    await assertRefused(convertMessage(onlyPdf, OPTS), 'mimeInvalid', 'no text or HTML body');
  });

  it('decodes a subject folded over several lines and mixing encoded words', async () => {
    const raw = message([
      'Subject: =?ISO-8859-1?Q?Caf=E9?= and',
      '  =?UTF-8?B?w7xiZXI=?= =?UTF-8?B?IHRlc3Q=?=',
      'From: a@example.com',
    ]);
    const m = await convertMessage(raw, OPTS);
    assert.equal(m.content.subject, 'Café and über test');
  });

  it('reads a message with bare LF line endings', async () => {
    const raw = Buffer.from(
      'Subject: lf\nContent-Type: multipart/alternative; boundary=x\n\n--x\n\nt\n--x\nContent-Type: text/html\n\n<i>h</i>\n--x--\n',
    );
    const m = await convertMessage(raw, OPTS);
    assert.equal(m.content.text, 't');
    assert.equal(m.content.html, '<i>h</i>');
  });

  it('converts what nodemailer composes (realistic bytes)', async () => {
    const raw = await new MailComposer({
      from: '"Zoë Ünal" <zoe@example.com>',
      to: 'b@example.org',
      subject: 'Grüße aus Köln ✓',
      text: 'Hallo Welt — '.repeat(30),
      html: '<p>Hallo <b>Welt</b></p>',
      attachments: [{ filename: 'Übersicht.pdf', content: Buffer.from('%PDF-1.4 x') }],
    })
      .compile()
      .build();
    const m = await convertMessage(raw, OPTS);
    assert.equal(m.content.subject, 'Grüße aus Köln ✓');
    assert.equal(m.content.text, 'Hallo Welt — '.repeat(30));
    assert.deepEqual(m.from, { address: 'zoe@example.com', name: 'Zoë Ünal' });
    assert.equal(m.attachments[0]?.filename, 'Ubersicht.pdf');
    assert.equal(Buffer.from(m.attachments[0]?.content ?? '', 'base64').toString(), '%PDF-1.4 x');
    assertSchemaValid(m);
  });
});

describe('convertMessage: forwarded headers and Message-ID', () => {
  it('forwards Reply-To, In-Reply-To, References, Message-ID and custom headers, never Cc/Bcc or structural ones', async () => {
    const m = await convertMessage(fixture('nested-mixed.eml'), OPTS);
    assert.deepEqual(
      m.additionalHeaders.map((h) => h.name),
      ['Message-ID', 'Reply-To', 'In-Reply-To', 'References', 'X-Foo', 'X-Mailer'],
    );
    assert.deepEqual(header(m, 'Reply-To'), ['"Report desk" <desk@example.com>']);
    assert.deepEqual(header(m, 'References'), ['<request-16@example.org> <request-17@example.org>']);
    assert.deepEqual(header(m, 'X-Foo'), ['custom value']);
    assert.equal(m.messageId, '<report-2026-03@example.com>');
    for (const name of [
      'cc',
      'bcc',
      'to',
      'from',
      'subject',
      'date',
      'received',
      'return-path',
      'dkim-signature',
    ]) {
      assert.deepEqual(header(m, name), [], name);
    }
    assert.ok(!m.additionalHeaders.some((h) => /^(content-|mime-)/i.test(h.name)));
    assertSchemaValid(m);
  });

  it('generates a Message-ID on the configured hostname when there is none, and forwards it', async () => {
    const m1 = await convertMessage(fixture('text-only.eml'), OPTS);
    const m2 = await convertMessage(fixture('text-only.eml'), OPTS);
    assert.match(m1.messageId, /^<[0-9a-f-]{36}@gw\.example\.test>$/);
    assert.notEqual(m1.messageId, m2.messageId);
    assert.deepEqual(header(m1, 'Message-ID'), [m1.messageId]);
    assert.equal(m1.digest, m2.digest, 'a generated Message-ID must not change the digest');
  });

  it('normalises a bare Message-ID, keeps the first of several, refuses one that holds no id', async () => {
    const bare = await convertMessage(message(['Subject: s', 'Message-ID: abc@example.com']), OPTS);
    assert.equal(bare.messageId, '<abc@example.com>');
    const twice = await convertMessage(
      message(['Subject: s', 'Message-Id: <1@x>', 'Message-ID: <2@x>']),
      OPTS,
    );
    assert.equal(twice.messageId, '<1@x>');
    assert.deepEqual(header(twice, 'message-id'), ['<1@x>']);
    await assertRefused(
      convertMessage(message(['Subject: s', 'Message-ID: two words']), OPTS),
      'mimeInvalid',
      'Message-ID',
    );
  });

  it('keeps encoded words and UTF-8 header values as written, unfolded', async () => {
    const raw = message([
      'Subject: s',
      'X-Note: =?UTF-8?Q?caf=C3=A9?=',
      'X-Long: first part',
      '\tsecond part',
      'X-Utf8: Zoë',
      'X-Latin1: Zo\xeb',
      'X-Empty:',
    ]);
    const raw2 = Buffer.from(raw.toString('latin1').replace('Zoë', 'Zo\xc3\xab'), 'latin1');
    const m = await convertMessage(raw2, OPTS);
    assert.deepEqual(header(m, 'X-Note'), ['=?UTF-8?Q?caf=C3=A9?=']);
    assert.deepEqual(header(m, 'X-Long'), ['first part\tsecond part']);
    assert.deepEqual(header(m, 'X-Utf8'), ['Zoë']);
    assert.deepEqual(header(m, 'X-Latin1'), ['Zoë']);
    assert.deepEqual(header(m, 'X-Empty'), []);
  });

  it('turns controls and the characters some readers break lines on (VT, FF, NEL, U+2028) into spaces', async () => {
    // NEL and U+2028 as UTF-8 bytes (message() writes each character as one byte).
    const raw = message([
      'Subject: s',
      'X-Vt: a\vBcc: b',
      'X-Ff: a\fb',
      'X-Nul: a\x00b',
      'X-Tab: a\tb',
      'X-Nel: a\xc2\x85b',
      'X-Ls: a\xe2\x80\xa8b',
    ]);
    const m = await convertMessage(raw, OPTS);
    assert.deepEqual(header(m, 'X-Vt'), ['a Bcc: b']);
    assert.deepEqual(header(m, 'X-Ff'), ['a b']);
    assert.deepEqual(header(m, 'X-Nul'), ['a b']);
    assert.deepEqual(header(m, 'X-Tab'), ['a\tb'], 'HTAB is whitespace, kept');
    assert.deepEqual(header(m, 'X-Nel'), ['a b']);
    assert.deepEqual(header(m, 'X-Ls'), ['a b']);
  });
});

describe('convertMessage: digest', () => {
  it('is stable for the same bytes and for a re-encoding of the same message', async () => {
    const compose = () =>
      new MailComposer({
        from: 'a@example.com',
        subject: 'Same',
        text: 'same text',
        html: '<p>same</p>',
        messageId: '<fixed@example.com>',
        date: new Date('2026-03-01T00:00:00Z'),
        attachments: [{ filename: 'a.csv', content: 'x,y' }],
      })
        .compile()
        .build();
    const raw1 = await compose();
    const raw2 = await compose(); // new random boundaries
    assert.notDeepEqual(raw1, raw2);
    const [a, b, c] = await Promise.all([
      convertMessage(raw1, OPTS),
      convertMessage(raw1, OPTS),
      convertMessage(raw2, OPTS),
    ]);
    assert.match(a.digest, /^[0-9a-f]{64}$/);
    assert.equal(a.digest, b.digest);
    assert.equal(a.digest, c.digest);
  });

  it('differs when anything the recipient gets differs', async () => {
    const base = ['From: a@example.com', 'Subject: s', 'Date: Thu, 05 Mar 2026 12:00:00 +0000', 'X-Foo: 1'];
    const digest = async (headers: string[], body = 'Body text.\r\n') =>
      (await convertMessage(message(headers, body), OPTS)).digest;
    const d0 = await digest(base);
    const variants = await Promise.all([
      digest(base, 'Body text!\r\n'),
      digest(base.map((h) => (h === 'Subject: s' ? 'Subject: t' : h))),
      digest(base.map((h) => (h === 'X-Foo: 1' ? 'X-Foo: 2' : h))),
      digest([...base, 'X-Tags: a']),
      digest([...base, 'X-List-Id: 5']),
      digest(base.map((h) => (h.startsWith('From') ? 'From: b@example.com' : h))),
      digest(base.map((h) => (h.startsWith('Date') ? 'Date: Thu, 05 Mar 2026 12:00:01 +0000' : h))),
    ]);
    for (const [i, d] of variants.entries()) assert.notEqual(d, d0, `variant ${i}`);
    assert.equal(new Set(variants).size, variants.length);
  });
});
