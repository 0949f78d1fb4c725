/**
 * The RegExp engine the sandbox's Ajv compiles `pattern` keywords with: the JavaScript
 * one, except for the schema's base64 pattern of attachment content, which backtracks
 * over every character (~50-75 ms for a 1 MB attachment here: two thirds of the
 * sandbox's CPU in bench (d), where the sandbox stands in for an upstream on another
 * machine). That one is checked by an equivalent linear test: a length that is a multiple
 * of 4, alphabet characters, at most two '=' at the very end. test/unit/sandbox-regexp.test.ts
 * holds the two equal on generated strings.
 */
export const BASE64_CONTENT_PATTERN = '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$';

const ALPHABET_THEN_PADDING = /^[A-Za-z0-9+/]*={0,2}$/;

/** Whole groups of four, padding only in the last one. */
export function isCanonicalBase64(s: string): boolean {
  return s.length % 4 === 0 && ALPHABET_THEN_PADDING.test(s);
}

interface RegExpLike {
  test(s: string): boolean;
}

/** Ajv's `code.regExp` option. */
export function sandboxRegExp(pattern: string, flags: string): RegExpLike {
  if (pattern === BASE64_CONTENT_PATTERN) return { test: isCanonicalBase64 };
  return new RegExp(pattern, flags);
}
sandboxRegExp.code = 'new RegExp';
