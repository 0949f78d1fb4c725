// The fast path (src/mail/fast-path.ts) must give exactly what mailparser gives, for every
// message it accepts; and it must accept the common case (or it saves nothing).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { convertMessage } from '../../src/mail/convert.ts';
import { parseSimpleMessage } from '../../src/mail/fast-path.ts';
import { prescan } from '../../src/mail/limits.ts';
import { parseMime } from '../../src/mail/parse.ts';
import { OPTS } from '../helpers/mail-fixtures.ts';

const LIMITS = { maxDepth: 20, maxParts: 200, maxHeaderBytes: 256 * 1024 };

async function bothPaths(raw: Buffer) {
  const scan = prescan(raw, LIMITS);
  const fast = parseSimpleMessage(raw, scan);
  const slow = await parseMime(raw, {
    maxHeaderBytes: LIMITS.maxHeaderBytes,
    maxParts: LIMITS.maxParts,
    textBesideHtml: scan.textBesideHtml,
  });
  return { fast, slow };
}

const word = fc.stringMatching(/^[A-Za-z0-9]{1,8}$/);
const unicodeText = fc.string({ unit: 'grapheme', maxLength: 40 });
const encodedWord = unicodeText.map((t) => `=?utf-8?B?${Buffer.from(t).toString('base64')}?=`);
const qWord = fc.stringMatching(/^[A-Za-z0-9 ]{1,12}$/).map((t) => `=?UTF-8?Q?${t.replace(/ /g, '_')}?=`);
const subject = fc.oneof(
  // tabs and spaces anywhere, at both ends too: a one-line value is only trimmed
  fc.stringMatching(/^[\t -~]{0,60}$/),
  fc.array(fc.oneof(word, encodedWord, qWord), { minLength: 1, maxLength: 4 }).map((w) => w.join(' ')),
  // folded over two lines
  fc.tuple(word, word).map(([a, b]) => `${a}\r\n ${b}`),
  // a lone CR inside the line (libmime's unfolding turns it into a space)
  fc.tuple(word, word).map(([a, b]) => `${a}\r${b}`),
);
const from = fc.oneof(
  fc.tuple(word, word).map(([l, d]) => `${l}@${d}.example`),
  fc.tuple(word, word, word).map(([n, l, d]) => `"${n} Doe" <${l}@${d}.example>`),
  // the forms the fast path reads without addressparser (SIMPLE_FROM), and near misses
  fc.tuple(word, word, word).map(([n, l, d]) => `${n} <${l}@${d}.example>`),
  fc.tuple(word, word, word).map(([n, l, d]) => `${n} Doe <${l}.x+tag@${d}-mail.example>`),
  fc.tuple(word, word).map(([l, d]) => `<${l}_x@${d}.example>`),
  fc.tuple(word, word, word).map(([n, l, d]) => `${n}  Doe <${l}@${d}.example>`),
  fc.tuple(word, word, word).map(([n, l, d]) => `"${n}, Doe" <${l}@${d}.example>`),
  fc.tuple(word, word, word).map(([n, l, d]) => `${l}@${d}.example (${n})`),
  fc.tuple(word, word).map(([l, d]) => `${l}@xn--${d}.example`),
  fc
    .tuple(unicodeText, word, word)
    .map(([n, l, d]) => `=?utf-8?B?${Buffer.from(n).toString('base64')}?= <${l}@${d}.example>`),
  fc.tuple(word, word, word).map(([a, b, d]) => `${a}@${d}.example, ${b}@${d}.example`),
  fc.constant('undisclosed-recipients:;'),
);
const bodyText = fc.array(
  fc.oneof(unicodeText, fc.constant(''), fc.constant('.'), fc.stringMatching(/^[ -~]{0,80}$/)),
  { maxLength: 8 },
);
const message = fc.record({
  subject: fc.option(subject, { nil: undefined }),
  from: fc.option(from, { nil: undefined }),
  type: fc.constantFrom(
    undefined,
    'text/plain',
    'text/html',
    'TEXT/PLAIN',
    'text/plain; charset=utf-8',
    'text/html; charset="UTF-8"',
    'text/plain; charset=us-ascii',
  ),
  cte: fc.constantFrom(undefined, '7bit', '8bit', 'binary', 'base64', '8BIT'),
  lines: bodyText,
  lf: fc.boolean(),
  // Each header line and the blank line after them ends in LF (true) or CRLF (false), where
  // set; else as the body's lines: `Subject: s\nFrom: a@b.c\n\r\n` ends the headers too.
  headerEols: fc.option(fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }), { nil: undefined }),
  // Base64 of the body in pieces, each encoded and padded apart (cut at these byte offsets):
  // '=' inside the body, which mailparser's decoder reads on past.
  base64Cuts: fc.option(fc.uniqueArray(fc.integer({ min: 1, max: 200 }), { maxLength: 4 }), {
    nil: undefined,
  }),
  trailingNewline: fc.boolean(),
});

type Generated = typeof message extends fc.Arbitrary<infer T> ? T : never;

/** Base64 of `bytes` in 76-character lines; cut into pieces encoded apart at `cuts`. */
function base64Lines(bytes: Buffer, cuts: readonly number[] | undefined): string[] {
  if (cuts === undefined)
    return (
      Buffer.from(bytes)
        .toString('base64')
        .match(/.{1,76}/g) ?? []
    );
  const at = [...cuts.filter((c) => c < bytes.length).sort((a, b) => a - b), bytes.length];
  let from = 0;
  return at.flatMap((to) => {
    const piece = bytes.subarray(from, to);
    from = to;
    return piece.toString('base64').match(/.{1,76}/g) ?? [];
  });
}

function build(m: Generated): Buffer {
  const eol = m.lf ? '\n' : '\r\n';
  const headerEol = (i: number) => (m.headerEols === undefined ? eol : m.headerEols[i] ? '\n' : '\r\n');
  const headers: string[] = [];
  if (m.subject !== undefined) headers.push(`Subject: ${m.subject}`);
  if (m.from !== undefined) headers.push(`From: ${m.from}`);
  if (m.type !== undefined) headers.push(`Content-Type: ${m.type}`);
  if (m.cte !== undefined) headers.push(`Content-Transfer-Encoding: ${m.cte}`);
  let body = m.lines.join(eol) + (m.trailingNewline ? eol : '');
  if (m.cte?.toLowerCase() === 'base64') body = base64Lines(Buffer.from(body), m.base64Cuts).join(eol) + eol;
  const head = headers.map((h, i) => h + headerEol(i)).join('') + headerEol(4);
  return Buffer.from(head + body);
}

test('fast path and mailparser agree on every message the fast path accepts', async () => {
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(message, async (m) => {
      const raw = build(m);
      const { fast, slow } = await bothPaths(raw);
      if (fast === undefined) return;
      accepted++;
      // undefined fields and absent ones are the same result
      assert.deepEqual(JSON.parse(JSON.stringify(fast)), JSON.parse(JSON.stringify(slow)), raw.toString());
    }),
    { numRuns: 400 },
  );
  assert.ok(accepted > 200, `the fast path took only ${accepted} of 400 simple messages`);
});

test('a base64 body padded in the middle is read whole (it was cut at the first "=")', async () => {
  // Three pieces encoded apart: "Hello ", "world, ", "your code is 1234.".
  const raw = Buffer.from(
    'Subject: s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n' +
      'SGVsbG8g\r\nd29ybGQsIA==\r\neW91ciBjb2RlIGlzIDEyMzQu\r\n',
  );
  const { fast, slow } = await bothPaths(raw);
  assert.equal(slow.text, 'Hello world, your code is 1234.');
  if (fast !== undefined)
    assert.deepEqual(JSON.parse(JSON.stringify(fast)), JSON.parse(JSON.stringify(slow)));
  assert.equal((await convertMessage(raw, OPTS)).content.text, 'Hello world, your code is 1234.');
});

test('LF header lines and a CRLF blank line end the headers there (the first body line was lost)', async () => {
  const raw = Buffer.from('Subject: s\nFrom: a@b.c\n\r\nHello,\r\n\r\nYour code is 1234.\r\n');
  const { fast, slow } = await bothPaths(raw);
  assert.equal(slow.text, 'Hello,\n\nYour code is 1234.\n');
  assert.ok(fast, 'the fast path takes it');
  assert.deepEqual(JSON.parse(JSON.stringify(fast)), JSON.parse(JSON.stringify(slow)));
  assert.equal((await convertMessage(raw, OPTS)).content.text, 'Hello,\n\nYour code is 1234.\n');
});

test('the fast path declines what it does not do exactly like mailparser', async () => {
  const declined = [
    'Subject: s\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nx\r\n',
    'Subject: s\r\nContent-Type: text/plain; format=flowed\r\n\r\nx\r\n',
    'Subject: s\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nx=3D\r\n',
    // '=' inside base64 (pieces padded apart): mailparser's decoder reads on, Node's stops
    'Subject: s\r\nContent-Transfer-Encoding: base64\r\n\r\nSGk=\r\nSGk=\r\n',
    'Subject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n',
    'Subject: s\r\nContent-Type: application/pdf\r\n\r\nx\r\n',
    'Subject: s\r\nContent-Disposition: attachment\r\n\r\nx\r\n',
    'Subject: caf\xe9\r\n\r\nx\r\n',
    'Subject: a\r\nSubject: b\r\n\r\nx\r\n',
    'Subject: s\r\n\r\n\xff\xfe\r\n',
    'Subject: no body separator',
  ];
  for (const text of declined) {
    const raw = Buffer.from(text, 'latin1');
    const scan = prescan(raw, LIMITS);
    assert.equal(parseSimpleMessage(raw, scan), undefined, JSON.stringify(text));
  }
});
