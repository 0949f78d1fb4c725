/**
 * The RegExp engine the sandbox's Ajv compiles `pattern` keywords with: the JavaScript
 * one, except for the schema's base64 pattern of attachment content. V8's backtracking
 * engine takes 11-17 ms over a 1 MB attachment here with that pattern or any regular
 * expression equal to it (two thirds of the sandbox's CPU in bench (d), where the sandbox
 * stands in for an upstream on another machine); isCanonicalBase64 answers the same in
 * ~0.5 ms with Node's native base64 codec. test/unit/sandbox-regexp.test.ts holds the two
 * equal on generated strings.
 */
export const BASE64_CONTENT_PATTERN = '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$';

/** The pattern's last group of four (the only one that may carry padding). */
const LAST_QUARTET = /^(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)$/;

/**
 * Whole groups of four, alphabet characters, padding only in the last group.
 *
 * Everything before the last group is checked by a round trip: Node's decoder skips
 * characters outside the alphabet, reads '-' and '_' as '+' and '/', and stops at the
 * first '='; re-encoded, its output holds only alphabet characters before its own padding.
 * So the output's text before its last group is the input's exactly when the input's is
 * all alphabet characters (groups of four without padding decode and re-encode to
 * themselves; equal text means equal length too). The last group is left to LAST_QUARTET
 * because its padded forms may carry bits the encoder writes as zeros (`AB==` comes back
 * as `AA==`).
 */
export function isCanonicalBase64(s: string): boolean {
  if (s.length % 4 !== 0) return false;
  if (s.length === 0) return true;
  if (!LAST_QUARTET.test(s.slice(-4))) return false;
  const again = Buffer.from(s, 'base64').toString('base64');
  return again.slice(0, -4) === s.slice(0, -4);
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
