// The sandbox's linear check of base64 attachment content answers exactly as the schema's
// own pattern does, and every other pattern is the JavaScript RegExp.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BASE64_CONTENT_PATTERN, isCanonicalBase64, sandboxRegExp } from '../../src/sandbox/regexp-engine.ts';
import { loadOpenApi } from '../../src/sandbox/schema-validator.ts';

const original = new RegExp(BASE64_CONTENT_PATTERN, 'u');

test('the pattern is the one in the schema (a change there must be looked at here)', () => {
  assert.ok(JSON.stringify(loadOpenApi()).includes(JSON.stringify(BASE64_CONTENT_PATTERN)));
});

test('equal to the schema pattern on generated strings (near-base64 alphabets, all lengths)', () => {
  // '-' and '_': Node's decoder reads them as '+' and '/'; '\u0100' and the surrogate:
  // not one-byte strings.
  const chars = fc.constantFrom(
    ...'AZaz09+/='.split(''),
    '=',
    '=',
    '-',
    '_',
    ' ',
    '\n',
    '\r',
    '\t',
    '\u000c',
    '\u0000',
    'é',
    '\u0100',
    '\ud800',
    '.',
    '*',
  );
  fc.assert(
    fc.property(fc.string({ unit: chars, maxLength: 24 }), (s) => {
      assert.equal(isCanonicalBase64(s), original.test(s), JSON.stringify(s));
    }),
    { numRuns: 20_000 },
  );
  for (const s of ['', 'AB==', 'ABC=', 'ABCD', 'A===', '====', 'AB=C', 'ABCDE===', 'ABCDEF==', 'AB='])
    assert.equal(isCanonicalBase64(s), original.test(s), s);
});

test('equal to the schema pattern on real base64 with one character changed anywhere', () => {
  // Long strings, where the round trip (not LAST_QUARTET) decides.
  const swap = fc.constantFrom('=', '-', '_', ' ', '\n', '.', 'é', '\u0100', '\u0000', 'A', '/');
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.nat(), swap, (bytes, at, c) => {
      const b64 = Buffer.from(bytes).toString('base64');
      const i = at % b64.length;
      const s = b64.slice(0, i) + c + b64.slice(i + 1);
      assert.equal(isCanonicalBase64(s), original.test(s), JSON.stringify(s));
    }),
    { numRuns: 20_000 },
  );
});

test('real base64 of random bytes passes; other patterns compile as RegExp', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      assert.equal(isCanonicalBase64(Buffer.from(bytes).toString('base64')), true);
    }),
  );
  assert.ok(sandboxRegExp('^[0-9]+$', 'u') instanceof RegExp);
  assert.equal(sandboxRegExp(BASE64_CONTENT_PATTERN, 'u').test('QUJD'), true);
});
