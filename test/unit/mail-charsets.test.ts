import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { convertMessage } from '../../src/mail/convert.ts';
import { parseSimpleMessage } from '../../src/mail/fast-path.ts';
import { prescan } from '../../src/mail/limits.ts';
import { OPTS, assertRefused, message } from '../helpers/mail-fixtures.ts';
import { assertSchemaValid } from '../helpers/mail-schema.ts';

// Exact bytes of the test strings in each charset (checked once against iconv-lite and TextDecoder).
const SAMPLES: { charset: string; bytes: string; text: string }[] = [
  { charset: 'ISO-8859-1', bytes: '4772fcdf6520e0206c276869766572', text: "Grüße à l'hiver" },
  { charset: 'windows-1252', bytes: '636166e9208020937194', text: 'café € “q”' },
  { charset: 'ISO-2022-JP', bytes: '1b2442467c4b5c386c1b2842', text: '日本語' },
  { charset: 'Shift_JIS', bytes: '93fa967b8cea8365834c83588367', text: '日本語テキスト' },
  { charset: 'KOI8-R', bytes: 'f0d2c9d7c5d420cdc9d2', text: 'Привет мир' },
  { charset: 'UTF-8', bytes: Buffer.from('Zoë ✓ 日本').toString('hex'), text: 'Zoë ✓ 日本' },
];

function qp(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) {
    out +=
      b >= 0x21 && b <= 0x7e && b !== 0x3d
        ? String.fromCharCode(b)
        : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

describe('convertMessage: charsets and transfer encodings', () => {
  for (const { charset, bytes, text } of SAMPLES) {
    const raw = Buffer.from(bytes, 'hex');
    for (const cte of ['base64', 'quoted-printable', '8bit'] as const) {
      // ISO-2022-JP is 7-bit by design; its escape bytes travel fine in any encoding
      it(`${charset} body in ${cte}, subject as RFC 2047 encoded word`, async () => {
        const body =
          cte === 'base64'
            ? Buffer.from(`${raw.toString('base64')}\r\n`)
            : cte === 'quoted-printable'
              ? Buffer.from(`${qp(raw)}\r\n`)
              : Buffer.concat([raw, Buffer.from('\r\n')]);
        const subject =
          cte === 'quoted-printable'
            ? `=?${charset}?Q?${qp(raw).replace(/ |=20/g, '_')}?=`
            : `=?${charset}?B?${raw.toString('base64')}?=`;
        const m = await convertMessage(
          message(
            [
              'From: a@example.com',
              `Subject: ${subject}`,
              `Content-Type: text/plain; charset="${charset}"`,
              `Content-Transfer-Encoding: ${cte}`,
            ],
            body,
          ),
          OPTS,
        );
        assert.equal(m.content.subject, text);
        assert.equal(m.content.text?.trimEnd(), text);
        assert.equal(m.content.encoding, 'utf-8');
        assertSchemaValid(m);
      });
    }
  }

  it('decodes an HTML part in windows-1252 next to a KOI8-R text part', async () => {
    const m = await convertMessage(
      message(
        ['Subject: two charsets', 'Content-Type: multipart/alternative; boundary=b'],
        Buffer.concat([
          Buffer.from(
            '--b\r\nContent-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: 8bit\r\n\r\n',
          ),
          Buffer.from('f0d2c9d7c5d4', 'hex'),
          Buffer.from(
            '\r\n--b\r\nContent-Type: text/html; charset=windows-1252\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>caf=E9 =80</p>\r\n--b--\r\n',
          ),
        ]),
      ),
      OPTS,
    );
    assert.equal(m.content.text, 'Привет');
    assert.equal(m.content.html, '<p>café €</p>');
  });

  it('reads an unknown charset name when the text is plain ASCII (faithful either way)', async () => {
    const m = await convertMessage(
      message(['Subject: s', 'Content-Type: text/plain; charset=x-no-such-charset'], 'plain ascii\r\n'),
      OPTS,
    );
    assert.equal(m.content.text, 'plain ascii\n');
  });

  it('refuses 8-bit text in an unknown charset, naming it', async () => {
    const raw = message(['Subject: s', 'Content-Type: text/plain; charset=x-no-such-charset'], 'caf\xe9\r\n');
    await assertRefused(convertMessage(raw, OPTS), 'mimeInvalid', 'x-no-such-charset');
  });

  it('refuses bytes that are not valid UTF-8 in a UTF-8 (or undeclared) body', async () => {
    await assertRefused(
      convertMessage(message(['Subject: s', 'Content-Type: text/plain; charset=utf-8'], 'caf\xe9\r\n'), OPTS),
      'mimeInvalid',
      'not valid in its charset (utf-8)',
    );
    await assertRefused(
      convertMessage(message(['Subject: s'], 'caf\xe9\r\n'), OPTS),
      'mimeInvalid',
      'none declared',
    );
  });

  // A U+FFFD the sender wrote (EF BF BD, valid UTF-8) is text like any other; only one that
  // replaced invalid bytes means the text is not what was sent.
  const FFFD = '\uFFFD';
  const fastPath = (raw: Buffer) => parseSimpleMessage(raw, prescan(raw, OPTS)) !== undefined;

  it('keeps a real U+FFFD in a UTF-8 body (fast path)', async () => {
    for (const [cte, body] of [
      ['8bit', Buffer.from(`M${FFFD}ller\r\n`)],
      ['base64', `${Buffer.from(`M${FFFD}ller`).toString('base64')}\r\n`],
    ] as const) {
      const raw = message(
        ['Subject: s', 'Content-Type: text/plain; charset=utf-8', `Content-Transfer-Encoding: ${cte}`],
        body,
      );
      assert.ok(fastPath(raw), cte);
      const m = await convertMessage(raw, OPTS);
      assert.equal(m.content.text?.trimEnd(), `M${FFFD}ller`, cte);
    }
  });

  it('keeps a real U+FFFD in a UTF-8 body (mailparser path)', async () => {
    const qpRaw = message(
      [
        'Subject: s',
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: quoted-printable',
      ],
      'M=EF=BF=\r\n=BDller\r\n',
    );
    assert.ok(!fastPath(qpRaw));
    assert.equal((await convertMessage(qpRaw, OPTS)).content.text, `M${FFFD}ller\n`);

    // beside an ISO-8859-1 HTML part, whose bytes never decode to U+FFFD
    const alternative = message(
      ['Subject: s', 'Content-Type: multipart/alternative; boundary=b'],
      Buffer.concat([
        Buffer.from(`--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nM${FFFD}ller\r\n`),
        Buffer.from(
          '--b\r\nContent-Type: text/html; charset=iso-8859-1\r\n\r\n<p>caf\xe9</p>\r\n--b--\r\n',
          'latin1',
        ),
      ]),
    );
    const m = await convertMessage(alternative, OPTS);
    assert.equal(m.content.text, `M${FFFD}ller`);
    assert.equal(m.content.html, '<p>café</p>');
  });

  it('keeps a real U+FFFD in the Subject: RFC 2047 (B, Q, split over two words) and raw UTF-8', async () => {
    const subjects = [
      `=?utf-8?B?${Buffer.from(`M${FFFD}ller`).toString('base64')}?=`,
      '=?UTF-8?Q?M=EF=BF=BDller?=',
      '=?UTF-8?Q?M=EF=BF?= =?UTF-8?Q?=BDller?=',
    ];
    for (const subject of subjects) {
      const raw = message([`Subject: ${subject}`], 'x\r\n');
      assert.ok(fastPath(raw), subject);
      assert.equal((await convertMessage(raw, OPTS)).content.subject, `M${FFFD}ller`, subject);
    }
    const raw = Buffer.from(`Subject: M${FFFD}ller\r\n\r\nx\r\n`);
    assert.ok(!fastPath(raw));
    assert.equal((await convertMessage(raw, OPTS)).content.subject, `M${FFFD}ller`);
  });

  it('still refuses invalid bytes next to a real U+FFFD', async () => {
    const bodies: [string[], Buffer][] = [
      [['Subject: s'], Buffer.concat([Buffer.from(`M${FFFD}ller `), Buffer.from('caf\xe9\r\n', 'latin1')])],
      [
        [
          'Subject: s',
          'Content-Type: text/plain; charset=utf-8',
          'Content-Transfer-Encoding: quoted-printable',
        ],
        Buffer.from('M=EF=BF=BDller caf=E9\r\n'),
      ],
      [
        ['Subject: s', 'Content-Type: multipart/alternative; boundary=b'],
        Buffer.concat([
          Buffer.from(`--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nM${FFFD}ller\r\n`),
          Buffer.from('--b\r\nContent-Type: text/html\r\n\r\n<p>caf\xe9</p>\r\n--b--\r\n', 'latin1'),
        ]),
      ],
    ];
    for (const [headers, body] of bodies) {
      await assertRefused(
        convertMessage(message(headers, body), OPTS),
        'mimeInvalid',
        'not valid in its charset',
      );
    }
    const subjects = [
      Buffer.concat([Buffer.from(`Subject: M${FFFD}ller `), Buffer.from('caf\xe9\r\n\r\nx\r\n', 'latin1')]),
      Buffer.from('Subject: =?UTF-8?Q?M=EF=BF=BDller?= =?utf-8?q?caf=E9?=\r\n\r\nx\r\n'),
      Buffer.from('Subject: =?UTF-8?Q?M=EF=BF=BDller?= and =?utf-8?q?caf=E9?=\r\n\r\nx\r\n'),
    ];
    for (const raw of subjects) {
      await assertRefused(convertMessage(raw, OPTS), 'mimeInvalid', 'Subject holds bytes that are not valid');
    }
  });

  it('refuses a subject whose encoded word names an unknown charset with 8-bit content', async () => {
    await assertRefused(
      convertMessage(message(['Subject: =?x-nope?Q?caf=E9?='], 'text\r\n'), OPTS),
      'mimeInvalid',
      'Subject',
    );
  });

  it('refuses UTF-7 bodies (mailparser will not decode them)', async () => {
    await assertRefused(
      convertMessage(
        message(['Subject: s', 'Content-Type: text/plain; charset=UTF-7'], 'Hi +AOk-\r\n'),
        OPTS,
      ),
      'mimeInvalid',
      'utf-7',
    );
  });

  it('unfolds format=flowed text', async () => {
    const m = await convertMessage(
      message(
        ['Subject: s', 'Content-Type: text/plain; charset=utf-8; format=flowed'],
        'one long \r\nline\r\n',
      ),
      OPTS,
    );
    assert.equal(m.content.text?.trimEnd(), 'one long line');
  });
});
