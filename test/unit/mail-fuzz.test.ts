/**
 * Property: whatever bytes arrive (random MIME trees with random boundaries, encodings,
 * charsets, truncation and garbage), convertMessage either resolves with a body that
 * validates against the SubmitEmail schema, or rejects with an SmtpReplyError of one of
 * the three conversion replies; never another error, and always quickly.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { convertMessage } from '../../src/mail/convert.ts';
import { SmtpReplyError } from '../../src/smtp/replies.ts';
import { OPTS } from '../helpers/mail-fixtures.ts';
import { schemaErrors } from '../helpers/mail-schema.ts';

interface Leaf {
  kind: 'leaf';
  ctype: string;
  charset?: string;
  cte?: string;
  disposition?: string;
  filename?: string;
  cid?: string;
  body: Uint8Array;
}
interface Multi {
  kind: 'multi';
  subtype: string;
  boundary: string;
  preamble: string;
  children: readonly Node[];
  close: boolean;
}
type Node = Leaf | Multi;

/** Mostly plausible values, now and then a hostile one: exercises acceptance and refusal alike. */
function mostly<T>(usual: readonly T[], odd: readonly T[]): fc.Arbitrary<T> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...usual), weight: 5 },
    { arbitrary: fc.constantFrom(...odd), weight: 1 },
  );
}

function rarely<T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: arb, weight: 1 });
}

const boundaryArb = fc.oneof(
  { arbitrary: fc.uuid().map((u) => `=_${u.slice(0, 8)}`), weight: 4 },
  { arbitrary: fc.constantFrom('b', 'b1', 'bb', '-', 'a b', '', 'é'), weight: 1 },
  { arbitrary: fc.string({ unit: fc.constantFrom('a', 'b', '-', '=', '_', ' '), maxLength: 6 }), weight: 1 },
);
const bodyArb = fc.oneof(
  {
    arbitrary: fc
      .constantFrom(
        'hello\r\n',
        'caf\xe9\r\n',
        '<p>hi <img src="cid:c1"></p>\r\n',
        'JVBERg==\r\n',
        '--b\r\n',
        '=C3=A9=\r\nx=ZZ\r\n',
        '',
      )
      .map((s) => Buffer.from(s, 'latin1')),
    weight: 4,
  },
  { arbitrary: fc.uint8Array({ maxLength: 200 }), weight: 1 },
  {
    arbitrary: fc
      .string({ unit: fc.constantFrom('A', 'z', '0', '+', '/', '=', '\r\n', ' ', '*'), maxLength: 80 })
      .map((s) => Buffer.from(s)),
    weight: 1,
  },
);
const leafArb: fc.Arbitrary<Leaf> = fc.record(
  {
    kind: fc.constant('leaf' as const),
    ctype: mostly(
      ['text/plain', 'text/html', 'application/pdf', 'image/png', 'text/calendar', 'text/csv'],
      ['image/gif', 'application/zip', 'message/rfc822', 'application/octet-stream', '', 'garbage'],
    ),
    charset: mostly(['utf-8', 'iso-8859-1', 'iso-2022-jp', 'koi8-r'], ['x-bad', 'utf-7']),
    cte: mostly(['', 'base64', 'quoted-printable', '8bit'], ['x-weird']),
    disposition: mostly(['inline', 'attachment'], ['weird']),
    filename: mostly(['a.pdf', 'x.png', 'Straße.csv', '=?utf-8?B?5pel?=.ics'], ['f.zip', '']),
    cid: mostly(['c1', '<c2>'], ['<c1>', '']),
    body: bodyArb,
  },
  { requiredKeys: ['kind', 'ctype', 'body'] },
);
const treeArb = fc.letrec<{ node: Node; multi: Multi }>((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leafArb, tie('multi')),
  multi: fc.record({
    kind: fc.constant('multi' as const),
    subtype: mostly(['mixed', 'alternative', 'related'], ['digest', 'x']),
    boundary: boundaryArb,
    preamble: mostly(['', 'preamble\r\n'], ['--\r\n']),
    children: fc.oneof(
      { arbitrary: fc.array(tie('node'), { minLength: 1, maxLength: 4 }), weight: 6 },
      fc.constant<Node[]>([]),
    ),
    close: mostly([true], [false]),
  }),
}));

function render(node: Node): Buffer {
  if (node.kind === 'leaf') {
    const lines: string[] = [];
    if (node.ctype)
      lines.push(`Content-Type: ${node.ctype}${node.charset ? `; charset=${node.charset}` : ''}`);
    if (node.cte !== undefined && node.cte !== '') lines.push(`Content-Transfer-Encoding: ${node.cte}`);
    if (node.disposition)
      lines.push(
        `Content-Disposition: ${node.disposition}${node.filename ? `; filename="${node.filename}"` : ''}`,
      );
    if (node.cid) lines.push(`Content-ID: ${node.cid}`);
    return Buffer.concat([Buffer.from(lines.map((l) => `${l}\r\n`).join('') + '\r\n', 'latin1'), node.body]);
  }
  const parts: Buffer[] = [
    Buffer.from(
      `Content-Type: multipart/${node.subtype}; boundary="${node.boundary}"\r\n\r\n${node.preamble}`,
      'latin1',
    ),
  ];
  for (const child of node.children) {
    parts.push(Buffer.from(`\r\n--${node.boundary}\r\n`, 'latin1'), render(child));
  }
  if (node.close) parts.push(Buffer.from(`\r\n--${node.boundary}--\r\n`, 'latin1'));
  return Buffer.concat(parts);
}

const topHeadersArb = fc
  .tuple(
    mostly(['Subject: fuzz', 'Subject: =?utf-8?B?w6k=?='], ['', 'Subject: =?x-bad?Q?=E9?=']),
    fc.subarray([
      'From: "F" <f@example.com>',
      'Message-ID: <m@x>',
      'X-List-Id: 7',
      'X-Tags: a,b',
      'Reply-To: r@example.com',
      'Cc: c@example.com',
    ]),
    mostly([''], ['X-Email-Api-Type: marketing', 'X-Track-Opens: maybe']),
  )
  .map(([subject, rest, odd]) => [subject, ...rest, odd].filter((h) => h !== ''));

const messageArb = fc
  .record({
    headers: topHeadersArb,
    // most messages carry a plain body part first, as real ones do, so acceptance is exercised too
    tree: fc.oneof(treeArb.node, {
      arbitrary: fc
        .tuple(fc.array(treeArb.node, { maxLength: 3 }), boundaryArb)
        .map(([rest, boundary]): Node => ({
          kind: 'multi',
          subtype: 'mixed',
          boundary,
          preamble: '',
          close: true,
          children: [
            { kind: 'leaf', ctype: 'text/plain', charset: 'utf-8', body: Buffer.from('Hello.\r\n') },
            ...rest,
          ],
        })),
      weight: 2,
    }),
    cut: rarely(fc.nat()),
    garbage: rarely(fc.record({ at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) })),
  })
  .map(({ headers, tree, cut, garbage }) => {
    let raw = Buffer.concat([Buffer.from(headers.map((h) => `${h}\r\n`).join(''), 'latin1'), render(tree)]);
    if (garbage) {
      const at = garbage.at % (raw.length + 1);
      raw = Buffer.concat([raw.subarray(0, at), garbage.bytes, raw.subarray(at)]);
    }
    if (cut !== undefined) raw = raw.subarray(0, cut % (raw.length + 1));
    return raw;
  });

const optsArb = fc.constantFrom(OPTS, {
  ...OPTS,
  maxParts: 6,
  maxDepth: 2,
  maxHeaderBytes: 1024,
  defaultListId: 3,
});

const CONVERSION_REPLIES = new Set(['mimeTooComplex', 'mimeInvalid', 'contentUnsupported']);
const BOUND_MS = 2000;

async function check(raw: Buffer | Uint8Array, opts: typeof OPTS): Promise<void> {
  const started = performance.now();
  try {
    const m = await convertMessage(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), opts);
    assert.equal(schemaErrors(m), null);
    assert.ok(m.content.html !== undefined || m.content.text !== undefined);
    assert.match(m.digest, /^[0-9a-f]{64}$/);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    assert.ok(err instanceof SmtpReplyError, `unexpected ${String((err as Error)?.stack ?? err)}`);
    assert.ok(CONVERSION_REPLIES.has(err.key), err.key);
  }
  const took = performance.now() - started;
  assert.ok(took < BOUND_MS, `took ${took.toFixed(0)} ms`);
}

describe('convertMessage: hostile input property', () => {
  // the timeout turns a hang (a parse that never settles) into a failure
  it(
    'random MIME trees: a schema-valid body or a conversion refusal, quickly',
    { timeout: 60_000 },
    async () => {
      await fc.assert(
        fc.asyncProperty(messageArb, optsArb, (raw, opts) => check(raw, opts)),
        { numRuns: 400 },
      );
    },
  );

  it('random bytes: a schema-valid body or a conversion refusal, quickly', { timeout: 60_000 }, async () => {
    const bytesArb = fc.oneof(
      fc.uint8Array({ maxLength: 4096 }),
      fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.concat([Buffer.from('Subject: x\r\n\r\n'), b])),
    );
    await fc.assert(
      fc.asyncProperty(bytesArb, (raw) => check(raw, OPTS)),
      { numRuns: 300 },
    );
  });
});
