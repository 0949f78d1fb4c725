// One message's request bodies: the shared fields serialised once, `email` per recipient.
// Each body must be the JSON of the whole SubmitEmail, whatever the fields hold.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SubmitEmailBodies, longMarker, sharedJson, textJson } from '../../src/cakemail/email-body.ts';
import type { SubmitEmail } from '../../src/cakemail/types.ts';

const shared: Omit<SubmitEmail, 'email'> = {
  sender: { id: 'sender-1', name: 'Zoë "Z" \\ Example' },
  content: {
    subject: 'Hi\n\u2028there',
    text: 'line 1\nline 2 \u{1F600}',
    encoding: 'utf-8',
    type: 'transactional',
  },
  tags: ['a', 'b'],
  additional_headers: [{ name: 'X-Thing', value: '</script>' }],
};

test('each recipient gets the whole SubmitEmail, the shared fields untouched', () => {
  const bodies = new SubmitEmailBodies(shared);
  for (const r of ['a@example.com', 'o"dd\\@example.com', 'ünï@exämple.com']) {
    assert.deepEqual(JSON.parse(bodies.for(r).toString('utf8')), { ...shared, email: r });
  }
});

test('no shared field at all: only the recipient', () => {
  const bodies = new SubmitEmailBodies({} as Omit<SubmitEmail, 'email'>);
  assert.equal(bodies.for('x@example.com').toString(), '{"email":"x@example.com"}');
});

test('property: the body parses to the shared fields plus email, for any JSON fields', () => {
  const fields = fc.dictionary(
    fc.string().filter((k) => k !== 'email' && k !== '__proto__'),
    fc.jsonValue(),
  );
  fc.assert(
    fc.property(fields, fc.string(), (f, recipient) => {
      const body = new SubmitEmailBodies(f as unknown as Omit<SubmitEmail, 'email'>).for(recipient);
      // As JSON.stringify of the whole object reads back (-0 comes back as 0, say).
      const whole = JSON.parse(JSON.stringify({ ...f, email: recipient })) as unknown;
      assert.deepEqual(JSON.parse(body.toString('utf8')), whole);
    }),
    { numRuns: 1000 },
  );
});

// The long text and HTML bodies take textJson instead of JSON.stringify: the output must be
// JSON.stringify's to the byte, for any character the body may hold.
const tricky = fc.constantFrom(
  'a',
  ' ',
  'é',
  '\u2028',
  '\u{1F600}',
  '"',
  '\\',
  '\n',
  '\t',
  '\r',
  '\u0000',
  '\u001f',
  '\u007f',
  '\ud800',
  '\udfff',
);
const body = (minLength: number) =>
  fc.oneof(
    fc.string({ unit: tricky, minLength, maxLength: minLength + 64 }),
    fc.string({ unit: 'binary', minLength, maxLength: minLength + 64 }),
    // Only the characters textJson escapes itself (no fallback to JSON.stringify).
    fc.string({
      unit: fc.constantFrom('a', 'é', '"', '\\', '\n', '\t', '\u{1F600}'),
      minLength,
      maxLength: minLength + 64,
    }),
  );

test('property: textJson(s) is JSON.stringify(s)', () => {
  fc.assert(
    fc.property(body(0), (s) => assert.equal(textJson(s), JSON.stringify(s))),
    { numRuns: 3000 },
  );
});

test('property: the shared fields with long strings serialise as JSON.stringify does', () => {
  const marker = fc.nat({ max: 4 }).map(longMarker);
  const maybeLong = fc.option(fc.oneof(body(1024), body(0), marker), { nil: undefined });
  const content = fc.record(
    {
      subject: fc.oneof(fc.string(), marker),
      html: maybeLong,
      text: maybeLong,
      encoding: fc.constant('utf-8' as const),
      type: fc.constantFrom('transactional' as const, 'marketing' as const),
    },
    { requiredKeys: ['subject'] },
  );
  const base64 = fc.uint8Array({ maxLength: 1500 }).map((b) => Buffer.from(b).toString('base64'));
  const attachment = fc.record({
    filename: fc.oneof(fc.string(), marker),
    type: fc.constant('pdf' as const),
    content: fc.oneof(base64, body(1024), marker),
  });
  const sharedFields = fc.record(
    {
      sender: fc.record({ id: fc.string(), name: fc.string() }, { requiredKeys: ['id'] }),
      content,
      tags: fc.array(fc.oneof(fc.string(), marker)),
      additional_headers: fc.array(fc.record({ name: fc.string(), value: fc.oneof(body(0), marker) })),
      attachment: fc.oneof(attachment, fc.array(attachment, { maxLength: 4 })),
    },
    { requiredKeys: ['sender', 'content'] },
  );
  fc.assert(
    fc.property(sharedFields, (f) => assert.equal(sharedJson(f), JSON.stringify(f))),
    { numRuns: 500 },
  );
});

test('a body holding a marker is stringified whole, not spliced', () => {
  for (const marker of [longMarker(0), longMarker(1)]) {
    const f: Omit<SubmitEmail, 'email'> = {
      sender: { id: 's', name: marker },
      content: { subject: 'hi', text: `${'x'.repeat(2000)}${marker}`, html: `${'y'.repeat(2000)}"` },
    };
    assert.equal(sharedJson(f), JSON.stringify(f));
  }
});

test('long strings spliced back where they stand, whatever the order of the keys', () => {
  const text = `text ${'t'.repeat(2000)}`;
  const html = `<p>${'h'.repeat(2000)}</p>`;
  const content = Buffer.alloc(3000, 7).toString('base64');
  const f = {
    attachment: [{ filename: 'a.pdf', type: 'pdf', content }],
    content: { text, subject: 'hi', html },
    sender: { id: 's' },
  } as Omit<SubmitEmail, 'email'>;
  assert.equal(sharedJson(f), JSON.stringify(f));
});

test('a large message (encoded once) gives each recipient the whole SubmitEmail too', () => {
  const big = { ...shared, attachment: { filename: 'a.pdf', type: 'pdf', content: 'QUJD'.repeat(40_000) } };
  const bodies = new SubmitEmailBodies(big as Omit<SubmitEmail, 'email'>);
  for (const r of ['a@example.com', 'ünï@exämple.com']) {
    assert.equal(bodies.for(r).toString('utf8'), JSON.stringify({ email: r, ...big }));
  }
});
