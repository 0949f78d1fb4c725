import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { convertMessage } from '../../src/mail/convert.ts';
import fc from 'fast-check';
import { checkBase64 } from '../../src/mail/base64-checks.ts';
import { prescan } from '../../src/mail/limits.ts';
import { OPTS, assertRefused, message } from '../helpers/mail-fixtures.ts';

/** Resolves or rejects within `ms`, else fails: a refusal must be quick, not merely eventual. */
async function within<T>(ms: number, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } finally {
    const took = performance.now() - started;
    assert.ok(took < ms, `took ${took.toFixed(0)} ms, bound ${ms} ms`);
  }
}

function flatParts(n: number): Buffer {
  let body = '';
  for (let i = 0; i < n; i++) body += `--b\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n`;
  return message(['Subject: many', 'Content-Type: multipart/mixed; boundary=b'], body + '--b--\r\n');
}

function nested(levels: number): Buffer {
  let head = '';
  let tail = '';
  for (let i = 1; i < levels; i++) {
    head += `--n${i - 1}\r\nContent-Type: multipart/mixed; boundary=n${i}\r\n\r\n`;
    tail = `--n${i}--\r\n` + tail;
  }
  const body = `${head}--n${levels - 1}\r\nContent-Type: text/plain\r\n\r\ndeep\r\n${tail}--n0--\r\n`;
  return message(['Subject: deep', 'Content-Type: multipart/mixed; boundary=n0'], body);
}

describe('convertMessage: structural limits, refused early', () => {
  it('accepts up to maxParts parts (the top level and containers count) and refuses one more', async () => {
    const two = message(
      ['Subject: s', 'Content-Type: multipart/alternative; boundary=a'],
      '--a\r\n\r\nt\r\n--a\r\nContent-Type: text/html\r\n\r\n<p>h</p>\r\n--a--\r\n',
    );
    const ok = await convertMessage(two, { ...OPTS, maxParts: 3 });
    assert.equal(ok.content.text, 't');
    assert.equal(prescan(two, { ...OPTS, maxParts: 3 }).parts, 3);
    await assertRefused(
      convertMessage(two, { ...OPTS, maxParts: 2 }),
      'mimeTooComplex',
      'more than 2 MIME parts',
    );
  });

  it('refuses 10,000 parts quickly', async () => {
    const raw = flatParts(10_000);
    const e = await within(300, () =>
      assertRefused(convertMessage(raw, OPTS), 'mimeTooComplex', 'more than 200 MIME parts'),
    );
    assert.equal(e.message, '5.6.0 Message structure too complex: more than 200 MIME parts');
  });

  it('accepts nesting up to maxDepth and refuses deeper', async () => {
    const m = await convertMessage(nested(5), { ...OPTS, maxDepth: 5 });
    assert.equal(m.content.text, 'deep');
    assert.equal(prescan(nested(5), OPTS).depth, 5);
    await assertRefused(
      convertMessage(nested(6), { ...OPTS, maxDepth: 5 }),
      'mimeTooComplex',
      'nested deeper than 5 levels',
    );
  });

  it('refuses 1,000 nesting levels quickly', async () => {
    const raw = nested(1000);
    await within(300, () =>
      assertRefused(convertMessage(raw, OPTS), 'mimeTooComplex', 'nested deeper than 20 levels'),
    );
  });

  it('refuses a 5 MB top-level header block quickly, as one line or as many', async () => {
    const oneLine = message(['Subject: s', `X-Pad: ${'a'.repeat(5 * 1024 * 1024)}`]);
    await within(300, () =>
      assertRefused(
        convertMessage(oneLine, OPTS),
        'mimeTooComplex',
        'header block of the message exceeds 262144 bytes',
      ),
    );
    const manyLines = message([
      'Subject: s',
      ...Array.from({ length: 100_000 }, (_, i) => `X-H${i}: ${'v'.repeat(40)}`),
    ]);
    await within(300, () =>
      assertRefused(convertMessage(manyLines, OPTS), 'mimeTooComplex', 'exceeds 262144 bytes'),
    );
    // a header block that never ends is refused as soon as it passes the bound
    const endless = Buffer.from(`Subject: s\r\n${'X-A: b\r\n'.repeat(100_000)}`);
    await assertRefused(convertMessage(endless, OPTS), 'mimeTooComplex', 'header block');
  });

  it('refuses an oversized header block inside a part, naming the part', async () => {
    const raw = message(
      ['Subject: s', 'Content-Type: multipart/mixed; boundary=b'],
      `--b\r\n\r\nfirst\r\n--b\r\nContent-Type: text/plain\r\nX-Pad: ${'p'.repeat(300 * 1024)}\r\n\r\nx\r\n--b--\r\n`,
    );
    await assertRefused(convertMessage(raw, OPTS), 'mimeTooComplex', 'header block of part 2 exceeds');
  });

  it('accepts a header block exactly at the bound', async () => {
    const head = 'Subject: s\r\nX-Pad: ';
    const max = 1024;
    const pad = 'x'.repeat(max - head.length - 2 - 2);
    const raw = Buffer.from(`${head}${pad}\r\n\r\nbody\r\n`);
    assert.equal(raw.indexOf('\r\n\r\n') + 4, max);
    const m = await convertMessage(raw, { ...OPTS, maxHeaderBytes: max });
    assert.equal(m.content.text, 'body\n');
    await assertRefused(convertMessage(raw, { ...OPTS, maxHeaderBytes: max - 1 }), 'mimeTooComplex');
  });
});

describe('convertMessage: malformed MIME', () => {
  const mixed = (body: string, ct = 'multipart/mixed; boundary=b') =>
    message(['Subject: s', `Content-Type: ${ct}`], body);

  it('reads a multipart whose closing delimiter is missing', async () => {
    const m = await convertMessage(
      mixed('--b\r\n\r\nfirst\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>second</p>\r\n'),
      OPTS,
    );
    assert.equal(m.content.text, 'first\n');
    assert.match(m.content.html ?? '', /<p>second<\/p>/);
  });

  it('reads delimiters with trailing whitespace and a quoted boundary with a comment', async () => {
    const m = await convertMessage(
      mixed(
        'preamble\r\n--a=b \t\r\n\r\nbody\r\n--a=b--  \r\nepilogue --a=b\r\n',
        'multipart/mixed; boundary="a=b" (comment)',
      ),
      OPTS,
    );
    assert.equal(m.content.text, 'body');
  });

  it('reads boundary parameters the way mailparser does (comments, parentheses in tokens, RFC 2231)', async () => {
    const cases: [string, string][] = [
      ['multipart/mixed; boundary=(c)b', '(c)b'],
      ['multipart/mixed (comment); boundary="q(x)"', 'q(x)'],
      ['multipart/mixed; boundary*0=ab; boundary*1=cd', 'abcd'],
      ['multipart/mixed; boundary=first; boundary=second', 'first'],
      // the RFC 2231 form wins over the plain one, in either order, as in libmime
      ["multipart/mixed; boundary*=utf-8''b2231; boundary=plain", 'b2231'],
      ["multipart/mixed; boundary=plain; boundary*=utf-8''b2231", 'b2231'],
      ["multipart/mixed; boundary=plain; boundary*0*=us-ascii'en'b%32; boundary*1=231", 'b2231'],
    ];
    for (const [ct, boundary] of cases) {
      const m = await convertMessage(mixed(`--${boundary}\r\n\r\nbody\r\n--${boundary}--\r\n`, ct), OPTS);
      assert.equal(m.content.text, 'body', ct);
    }
  });

  it('refuses a multipart without boundary parameter', async () => {
    await assertRefused(
      convertMessage(mixed('hello\r\n', 'multipart/mixed'), OPTS),
      'mimeInvalid',
      'multipart/mixed without a usable boundary',
    );
  });

  it('refuses a multipart whose boundary never appears (its content would be lost)', async () => {
    await assertRefused(
      convertMessage(mixed('--other\r\n\r\nhello\r\n'), OPTS),
      'mimeInvalid',
      'boundary never appears',
    );
    const inner = mixed(
      '--b\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n--x\r\n\r\nlost\r\n--b--\r\n',
    );
    await assertRefused(
      convertMessage(inner, OPTS),
      'mimeInvalid',
      'part 1 is multipart/alternative but its boundary never appears',
    );
  });

  it('refuses broken base64, accepts base64 with odd line lengths and whitespace', async () => {
    const part = (b64: string) =>
      mixed(
        `--b\r\n\r\ntext\r\n--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n--b--\r\n`,
      );
    await assertRefused(
      convertMessage(part('JVBE*Rg=='), OPTS),
      'mimeInvalid',
      'part 2 is not valid base64 (byte 0x2a at offset 4)',
    );
    await assertRefused(convertMessage(part('JVBERgA'.slice(0, 5)), OPTS), 'mimeInvalid', 'truncated');
    const m = await convertMessage(part('JV\r\nBE Rg\t==\r\n\r\n'), OPTS);
    assert.equal(Buffer.from(m.attachments[0]?.content ?? '', 'base64').toString(), '%PDF');
  });

  it('reads sloppy quoted-printable leniently (every byte survives)', async () => {
    const raw = message(
      [
        'Subject: s',
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: quoted-printable',
      ],
      'a=ZZb=\r\nc =3D d=C3=A9\r\n',
    );
    const m = await convertMessage(raw, OPTS);
    assert.equal(m.content.text, 'a=ZZbc = dé\n');
  });

  it('refuses a transfer encoding it cannot decode', async () => {
    const raw = message(['Subject: s', 'Content-Transfer-Encoding: x-uuencode'], 'begin 644 a\r\n');
    await assertRefused(convertMessage(raw, OPTS), 'mimeInvalid', 'Content-Transfer-Encoding x-uuencode');
  });

  it('survives garbage: NUL bytes, lone CRs, binary noise in the body', async () => {
    const noise = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256));
    // KOI8-R maps all 256 byte values (latin1 is read as windows-1252, which leaves 5 undefined)
    const raw = Buffer.concat([
      Buffer.from('Subject: noise\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n'),
      noise,
    ]);
    const m = await convertMessage(raw, OPTS);
    assert.ok((m.content.text ?? '').length > 1000);
  });
});

describe('checkBase64', () => {
  // The verdict of the plain loop it replaced (one branch a byte), as the reference.
  const reference = (raw: Buffer, start: number, end: number): string => {
    let data = 0;
    let padded = false;
    for (let i = start; i < end; i++) {
      const ch = String.fromCharCode(raw[i] as number);
      if (/[A-Za-z0-9+/]/.test(ch)) data++;
      else if (ch === '=') padded = true;
      else if (!' \t\r\n'.includes(ch))
        return `byte 0x${(raw[i] as number).toString(16).padStart(2, '0')} at offset ${i - start}`;
    }
    return !padded && data % 4 === 1 ? 'truncated' : '';
  };

  it('property: the same verdict as a plain loop, on any range of any bytes', () => {
    const byte = fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...Buffer.from('AZaz09+/')) },
      { weight: 2, arbitrary: fc.constantFrom(...Buffer.from('= \t\r\n')) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
    );
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 40 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const raw = Buffer.from(bytes);
        const start = bytes.length === 0 ? 0 : a % (bytes.length + 1);
        const end = start + (b % (bytes.length - start + 1));
        assert.equal(checkBase64(raw, start, end), reference(raw, start, end));
      }),
      { numRuns: 20_000 },
    );
  });
});
