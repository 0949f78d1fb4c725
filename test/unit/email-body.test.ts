// One message's request bodies: the shared fields serialised once, `email` per recipient.
// Each body must be the JSON of the whole SubmitEmail, whatever the fields hold.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SubmitEmailBodies } from '../../src/cakemail/email-body.ts';
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
