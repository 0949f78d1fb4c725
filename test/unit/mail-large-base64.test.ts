// Large base64 attachments are decoded by parse.ts itself (Node's decoder), the rest of the
// message by mailparser: the parts must come out exactly as when mailparser decodes them
// all, and the common case (a big PDF) must take that way, or it saves nothing.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { convertMessage } from '../../src/mail/convert.ts';
import { NATIVE_BASE64_MIN, prescan } from '../../src/mail/limits.ts';
import { type ParsedMime, parseMime } from '../../src/mail/parse.ts';
import { OPTS } from '../helpers/mail-fixtures.ts';

const LIMITS = { maxDepth: 20, maxParts: 200, maxHeaderBytes: 256 * 1024 };

/** The parts with each content as its digest: a failure prints a short diff, not megabytes. */
const digested = (p: ParsedMime) => ({
  ...p,
  parts: p.parts.map((part) => ({
    ...part,
    content: createHash('sha256').update(part.content).digest('hex'),
  })),
});

async function bothWays(raw: Buffer) {
  const scan = prescan(raw, LIMITS);
  const opts = { maxHeaderBytes: LIMITS.maxHeaderBytes, maxParts: LIMITS.maxParts, textBesideHtml: false };
  const apart = await parseMime(raw, { ...opts, largeBase64: scan.largeBase64 });
  const whole = await parseMime(raw, opts);
  return { scan, apart: digested(apart), whole: digested(whole) };
}

interface Attachment {
  bytes: Uint8Array;
  type: string;
  disposition: string;
  lineLength: number;
  eol: string;
  /** Whitespace and blank lines after the base64, before the delimiter ('\n': the eol). */
  tail: string;
  /** Two base64 runs, each padded: '=' inside the body, which stays mailparser's. */
  split: boolean;
}

function body(a: Attachment): string {
  const runs = a.split
    ? [a.bytes.subarray(0, 1001), a.bytes.subarray(1001)].map((b) => Buffer.from(b).toString('base64'))
    : [Buffer.from(a.bytes).toString('base64')];
  const text = runs.join('');
  const lines = a.lineLength === 0 ? [text] : (text.match(new RegExp(`.{1,${a.lineLength}}`, 'g')) ?? []);
  return lines.join(a.eol) + a.eol + a.tail.replaceAll('\n', a.eol);
}

function mixed(attachments: readonly Attachment[], eol: string): Buffer {
  let raw = `Subject: s${eol}MIME-Version: 1.0${eol}Content-Type: multipart/mixed; boundary="b"${eol}${eol}`;
  raw += `--b${eol}Content-Type: text/plain${eol}${eol}hello${eol}`;
  attachments.forEach((a, i) => {
    raw += `--b${eol}Content-Type: ${a.type}; name="f${i}.pdf"${eol}`;
    raw += `Content-Disposition: ${a.disposition}; filename="f${i}.pdf"${eol}`;
    raw += `Content-Transfer-Encoding: base64${eol}${eol}${body(a)}`;
  });
  return Buffer.from(`${raw}--b--${eol}`, 'latin1');
}

/** `size` bytes drawn from `seed` (a size and a seed shrink in a few steps, a byte array in thousands). */
function noise(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed | 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const attachment = fc.record({
  // Around the threshold: 12 KB of bytes is 16 KB of base64.
  bytes: fc
    .tuple(fc.oneof(fc.integer({ min: 11_000, max: 14_000 }), fc.integer({ min: 0, max: 2_000 })), fc.nat())
    .map(([size, seed]) => noise(size, seed)),
  type: fc.constantFrom(
    'application/pdf',
    'application/octet-stream',
    'image/png',
    'text/csv',
    'message/rfc822',
  ),
  disposition: fc.constantFrom('attachment', 'inline'),
  lineLength: fc.constantFrom(76, 64, 72, 4, 1000, 0, 77),
  eol: fc.constantFrom('\r\n', '\n'),
  tail: fc.constantFrom('', '\n', ' \t\n', '\n  \n'),
  split: fc.boolean(),
});

test('property: large base64 attachments decoded apart come out as mailparser decodes them', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(attachment, { minLength: 1, maxLength: 3 }),
      fc.constantFrom('\r\n', '\n'),
      async (list, eol) => {
        const { scan, apart, whole } = await bothWays(mixed(list, eol));
        assert.deepEqual(apart, whole);
        // Which bodies were taken apart: exactly the big, unsplit, non-text, non-message ones.
        const expected = list.flatMap((a, i) =>
          body(a).length >= NATIVE_BASE64_MIN && !a.split && !/^(text|message)\//.test(a.type)
            ? [String(i + 2)]
            : [],
        );
        assert.deepEqual(
          scan.largeBase64.map((b) => b.path),
          expected,
        );
      },
    ),
    { numRuns: 150 },
  );
});

test('a 1 MB PDF (scenario (d)) is decoded apart, and converts to the same request', async () => {
  const pdf = Buffer.from(noise(1024 * 1024, 7));
  const a: Attachment = {
    bytes: pdf,
    type: 'application/pdf',
    disposition: 'attachment',
    lineLength: 76,
    eol: '\r\n',
    tail: '',
    split: false,
  };
  const raw = mixed([a], '\r\n');
  const { scan, apart, whole } = await bothWays(raw);
  assert.equal(scan.largeBase64.length, 1);
  assert.deepEqual(apart, whole);
  const converted = await convertMessage(raw, OPTS);
  assert.equal(converted.attachments[0]?.content, pdf.toString('base64'));
});

test('boundary*= beats boundary=: the prescan cuts out the body mailparser sees there, not another', async () => {
  // libmime splits this message at --b (RFC 2231 form); the --c parts are epilogue. The
  // prescan used to split at --c and put the large PDF's bytes into b.png.
  const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.from(noise(20_000, 3))]);
  const pdf64 = (pdf.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
  const png = Buffer.from('89504e470d0a1a0a', 'hex');
  const raw = Buffer.from(
    "Subject: s\r\nContent-Type: multipart/mixed; boundary*=utf-8''b; boundary=c\r\n\r\n" +
      '--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n' +
      `--b\r\nContent-Type: image/png; name=b.png\r\nContent-Transfer-Encoding: base64\r\n\r\n${png.toString('base64')}\r\n` +
      '--b--\r\n' +
      '--c\r\nContent-Type: text/plain\r\n\r\nx\r\n' +
      `--c\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n${pdf64}\r\n` +
      '--c--\r\n',
    'latin1',
  );
  const { scan, apart, whole } = await bothWays(raw);
  assert.deepEqual(scan.largeBase64, []);
  assert.deepEqual(apart, whole);
  const converted = await convertMessage(raw, OPTS);
  assert.equal(converted.content.text, 'hello');
  assert.deepEqual(
    converted.attachments.map((a) => [a.filename, a.content]),
    [['b.png', png.toString('base64')]],
  );
});
