import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apiFilename, attachmentType } from '../../src/mail/attachments.ts';
import { convertMessage } from '../../src/mail/convert.ts';
import { OPTS, assertRefused, fixture, message } from '../helpers/mail-fixtures.ts';
import { assertSchemaValid } from '../helpers/mail-schema.ts';

function withPart(partHeaders: string[], partBody: string): Buffer {
  return message(
    ['From: a@example.com', 'Subject: attachment test', 'Content-Type: multipart/mixed; boundary="b"'],
    `--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\n${partHeaders.join('\r\n')}\r\n\r\n${partBody}\r\n--b--\r\n`,
  );
}

describe('convertMessage: attachments', () => {
  const cases: { headers: string[]; type: string; filename: string }[] = [
    {
      headers: ['Content-Type: application/pdf', 'Content-Disposition: attachment; filename="a b.pdf"'],
      type: 'pdf',
      filename: 'a_b.pdf',
    },
    { headers: ['Content-Type: image/png; name="Logo.PNG"'], type: 'png', filename: 'Logo.png' },
    {
      headers: ['Content-Type: image/jpeg', 'Content-Disposition: attachment; filename="x.jpg"'],
      type: 'jpeg',
      filename: 'x.jpeg',
    },
    {
      headers: ['Content-Type: text/csv', 'Content-Disposition: attachment'],
      type: 'csv',
      filename: 'attachment-1.csv',
    },
    {
      headers: ['Content-Type: application/msword', 'Content-Disposition: attachment; filename="Brief.doc"'],
      type: 'doc',
      filename: 'Brief.doc',
    },
    {
      headers: [
        'Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document',
        'Content-Disposition: attachment; filename="CV.docx"',
      ],
      type: 'docx',
      filename: 'CV.docx',
    },
    {
      headers: [
        'Content-Type: application/vnd.ms-excel',
        'Content-Disposition: attachment; filename="old.xls"',
      ],
      type: 'xls',
      filename: 'old.xls',
    },
    // Windows labels CSV files as Excel sheets: the extension wins
    {
      headers: [
        'Content-Type: application/vnd.ms-excel',
        'Content-Disposition: attachment; filename="data.csv"',
      ],
      type: 'csv',
      filename: 'data.csv',
    },
    {
      headers: [
        'Content-Type: text/calendar; method=REQUEST',
        'Content-Disposition: attachment; filename="invite.ics"',
      ],
      type: 'calendar',
      filename: 'invite.ics',
    },
    // generic type: the filename decides
    {
      headers: [
        'Content-Type: application/octet-stream',
        'Content-Disposition: attachment; filename="scan.PDF"',
      ],
      type: 'pdf',
      filename: 'scan.pdf',
    },
    // RFC 2231 encoded filename with accents
    {
      headers: [
        'Content-Type: application/pdf',
        "Content-Disposition: attachment; filename*=utf-8''R%C3%A9sum%C3%A9%20%C3%A9t%C3%A9.pdf",
      ],
      type: 'pdf',
      filename: 'Resume_ete.pdf',
    },
    // RFC 2047 encoded name, non-Latin script: nothing left, so attachment-N
    {
      headers: ['Content-Type: application/pdf; name="=?UTF-8?B?5pel5pys6KqeLnBkZg==?="'],
      type: 'pdf',
      filename: 'attachment-1.pdf',
    },
  ];
  for (const c of cases) {
    it(`maps ${c.headers[0]} ${c.headers[1] ?? ''} to ${c.type} ${c.filename}`, async () => {
      const m = await convertMessage(
        withPart([...c.headers, 'Content-Transfer-Encoding: base64'], 'AAECAw=='),
        OPTS,
      );
      assert.equal(m.attachments.length, 1);
      assert.deepEqual(m.attachments[0], { filename: c.filename, type: c.type, content: 'AAECAw==' });
      assertSchemaValid(m);
    });
  }

  it('re-encodes a quoted-printable attachment as base64 without line breaks', async () => {
    const csv = 'name,city\r\n' + 'Zoë,Köln\r\n'.repeat(50);
    const qp = Buffer.from(csv)
      .toString('latin1')
      .replace(/[\x80-\xff=]/g, (c) => `=${c.charCodeAt(0).toString(16).toUpperCase()}`);
    const m = await convertMessage(
      withPart(
        [
          'Content-Type: text/csv; charset=utf-8; name=list.csv',
          'Content-Transfer-Encoding: quoted-printable',
        ],
        qp,
      ),
      OPTS,
    );
    const a = m.attachments[0];
    assert.ok(a);
    assert.doesNotMatch(a.content, /\s/);
    assert.equal(Buffer.from(a.content, 'base64').toString(), csv);
  });

  it('turns a text/calendar alternative (Outlook invitation) into a calendar attachment', async () => {
    const m = await convertMessage(fixture('outlook-invite.eml'), OPTS);
    assert.equal(m.content.text, 'Planning meeting, Thursday 10:00.\n');
    assert.match(m.content.html ?? '', /<b>Thursday<\/b>/);
    assert.equal(m.attachments.length, 1);
    assert.equal(m.attachments[0]?.type, 'calendar');
    assert.equal(m.attachments[0]?.filename, 'attachment-1.ics');
    assert.match(
      Buffer.from(m.attachments[0]?.content ?? '', 'base64').toString(),
      /^BEGIN:VCALENDAR\r\nMETHOD:REQUEST/,
    );
    assertSchemaValid(m);
  });

  it('leaves out other renderings of a multipart/alternative (AMP, watch-html) and reports them', async () => {
    const raw = message(
      ['Subject: amp', 'Content-Type: multipart/alternative; boundary=a'],
      [
        '--a\r\nContent-Type: text/plain\r\n\r\nplain\r\n',
        '--a\r\nContent-Type: text/x-amp-html\r\n\r\n<html amp4email>amp</html>\r\n',
        '--a\r\nContent-Type: text/watch-html\r\n\r\n<b>watch</b>\r\n',
        '--a\r\nContent-Type: multipart/related; boundary=r\r\n\r\n--r\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--r--\r\n',
        '--a--\r\n',
      ].join(''),
    );
    const m = await convertMessage(raw, OPTS);
    assert.equal(m.content.text, 'plain');
    assert.equal(m.content.html, '<p>html</p>');
    assert.deepEqual(m.attachments, []);
    assert.deepEqual(m.droppedAlternatives, ['2 text/x-amp-html', '3 text/watch-html']);
    assertSchemaValid(m);
  });

  it('refuses an alternative rendering that is the only version of its content', async () => {
    const raw = message(
      ['Subject: amp', 'Content-Type: multipart/mixed; boundary=m'],
      '--m\r\n\r\nintro\r\n--m\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: text/x-amp-html\r\n\r\namp\r\n--a--\r\n--m--\r\n',
    );
    await assertRefused(
      convertMessage(raw, OPTS),
      'contentUnsupported',
      'Part #2.1 cannot be carried by the Cakemail API: type text/x-amp-html',
    );
  });

  it('keeps an inline image that the HTML does not show as an ordinary attachment (Apple Mail)', async () => {
    const m = await convertMessage(fixture('apple-inline-image.eml'), OPTS);
    assert.equal(m.content.text, 'Before the picture.\nAfter the picture.');
    assert.deepEqual(m.attachments, [{ filename: 'shot.png', type: 'png', content: 'iVBORw0KGgo=' }]);
  });

  it('refuses an inline image the HTML shows through cid: (the API has no inline parts)', async () => {
    await assertRefused(
      convertMessage(fixture('related-cid.eml'), OPTS),
      'contentUnsupported',
      /Part logo\.png .*cid:logo\.123@example\.com/,
    );
  });

  it('refuses a cid: reference to a Content-ID written with a comment', async () => {
    for (const contentId of ['<part@1> (the logo)', '(logo) <part@1>']) {
      const raw = message(
        ['Subject: s', 'Content-Type: multipart/related; boundary=r'],
        `--r\r\nContent-Type: text/html\r\n\r\n<img src="cid:part@1">\r\n--r\r\nContent-Type: image/gif\r\nContent-ID: ${contentId}\r\n\r\nGIF89a\r\n--r--\r\n`,
      );
      await assertRefused(convertMessage(raw, OPTS), 'contentUnsupported', 'inline image (cid:part@1)');
    }
  });

  it('refuses a cid: reference whatever its case or percent-encoding', async () => {
    const raw = message(
      ['Subject: s', 'Content-Type: multipart/related; boundary=r'],
      '--r\r\nContent-Type: text/html\r\n\r\n<img src="CID:Part%401">\r\n--r\r\nContent-Type: image/gif\r\nContent-ID: <part@1>\r\n\r\nGIF89a\r\n--r--\r\n',
    );
    await assertRefused(convertMessage(raw, OPTS), 'contentUnsupported', 'inline image');
  });

  it('refuses an attachment type outside the enum, naming the part and the type', async () => {
    const e = await assertRefused(convertMessage(fixture('zip-attachment.eml'), OPTS), 'contentUnsupported');
    assert.equal(e.responseCode, 554);
    assert.equal(
      e.message,
      '5.6.1 Part files.zip cannot be carried by the Cakemail API: type application/zip is not among csv, doc, docx, calendar (ics), jpeg, pdf, png, xls, xlsx',
    );
  });

  it('refuses a type it cannot tell, naming the part by number when it has no filename', async () => {
    await assertRefused(
      convertMessage(withPart(['Content-Type: application/octet-stream'], 'xx'), OPTS),
      'contentUnsupported',
      'Part #2 cannot be carried by the Cakemail API: type application/octet-stream',
    );
    await assertRefused(
      convertMessage(
        withPart(['Content-Type: text/plain', 'Content-Disposition: attachment; filename=notes.txt'], 'xx'),
        OPTS,
      ),
      'contentUnsupported',
      'Part notes.txt',
    );
  });

  it('refuses an attached message (message/rfc822): the enum cannot carry it', async () => {
    await assertRefused(
      convertMessage(fixture('forwarded-rfc822.eml'), OPTS),
      'contentUnsupported',
      'message/rfc822',
    );
  });

  it('never drops a part: every leaf ends up in a body or an attachment, or the message is refused', async () => {
    const m = await convertMessage(fixture('nested-mixed.eml'), OPTS);
    // 2 bodies (alternative) + 4 attachments = 6 leaves in the fixture
    assert.equal(m.attachments.length, 4);
    assert.ok(m.content.text && m.content.html);
  });
});

describe('attachment helpers', () => {
  it('sanitises filenames to the API pattern and the extension of the type', () => {
    const pattern = /^[a-zA-Z0-9-_]+\.(csv|doc|docx|ics|jpeg|pdf|png|xls|xlsx)$/;
    const cases: [string | undefined, Parameters<typeof apiFilename>[1], string][] = [
      ['C:\\Users\\me\\Straße & Co (1).pdf', 'pdf', 'Strasse_Co_1.pdf'],
      ['../../etc/passwd', 'csv', 'passwd.csv'],
      ['report.v2', 'pdf', 'report_v2.pdf'],
      ['photo.png', 'jpeg', 'photo.jpeg'],
      ['....', 'png', 'attachment-3.png'],
      ['日本語.xlsx', 'xlsx', 'attachment-3.xlsx'],
      [undefined, 'calendar', 'attachment-3.ics'],
      ['a'.repeat(300) + '.doc', 'doc', 'a'.repeat(100) + '.doc'],
      ['Œuvre-ﬁnale_ø.docx', 'docx', 'OEuvre-finale_o.docx'],
    ];
    for (const [input, type, expected] of cases) {
      const name = apiFilename(input, type, 3);
      assert.equal(name, expected, String(input));
      assert.match(name, pattern);
    }
  });

  it('lets the content type win over a contradicting extension, except for generic types', () => {
    assert.equal(attachmentType('image/jpeg', 'png'), 'jpeg');
    assert.equal(attachmentType('application/octet-stream', 'png'), 'png');
    assert.equal(attachmentType('application/zip', 'pdf'), undefined);
    assert.equal(attachmentType('text/plain', 'ics'), 'calendar');
    assert.equal(attachmentType('text/plain', 'txt'), undefined);
  });
});
