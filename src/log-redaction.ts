/**
 * The logs' backstop against secrets. Every line pino writes goes through `redactSecrets`
 * (pino's `hooks.streamWrite`), which replaces the value of every key named like a secret
 * (SECRET_KEY), at any depth, with "[redacted]". Code never hands a password, an AUTH
 * payload or a token to a logger in the first place; this is for the day it does.
 *
 * Why not pino's `redact` option, which this replaced: its one-level wildcards
 * (`*.password`) made @pinojs/redact clone and re-stringify every top-level value of every
 * line, 16 µs a line on the 2026-12-03 machine against ~4 µs for all the rest of the line.
 * At the default LOG_LEVEL=info (two lines a message) that was a sixth of the gateway
 * tree's CPU a message under bench (a)'s load (docs/benchmarks.md). Scanning the finished
 * line costs well under a microsecond when no secret key is in it, and it reaches every
 * depth, serialized errors and child bindings included, where the paths reached one level.
 *
 * Sound on pino's output (JSON without whitespace) because a key is a quote right after `{`
 * or `,`: inside a string value every quote is escaped, so `{"password":` or `,"token":`
 * cannot occur within one.
 */

/**
 * Secret key names: any name ending in password, passwd, secret or token (`accessToken`,
 * `refresh_token`, `clientSecret`), and authorization, cookie, pass, key, api key, auth key
 * (the workers' credential HMAC key) and ticket key(s) (TLS session tickets);
 * case-insensitive.
 */
const SECRET_NAME =
  '(?:[\\w-]*(?:password|passwd|secret|token)|authorization|cookie|pass|key|(?:api|auth)[_-]?key|ticket[_-]?keys?)';
const SECRET_KEY = new RegExp(`[{,]"${SECRET_NAME}":`, 'gi');
const SECRET_NAME_ONLY = new RegExp(`^${SECRET_NAME}$`, 'i');

/** A field name the logs censor (for what renders log fields other than as a JSON line). */
export function isSecretKey(name: string): boolean {
  return SECRET_NAME_ONLY.test(name);
}

export const CENSOR = '[redacted]';
const CENSORED = JSON.stringify(CENSOR);

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** One JSON line (or several) with every secret key's value censored; the line itself when none is there. */
export function redactSecrets(line: string): string {
  SECRET_KEY.lastIndex = 0;
  let match = SECRET_KEY.exec(line);
  if (match === null) return line;
  let out = '';
  let from = 0;
  while (match !== null) {
    const start = match.index + match[0].length;
    const end = valueEnd(line, start);
    out += line.slice(from, start) + CENSORED;
    from = end;
    // The next key may start at `end` itself (`,"token":` right after the censored value).
    SECRET_KEY.lastIndex = end;
    match = SECRET_KEY.exec(line);
  }
  return out + line.slice(from);
}

/** Index just past the JSON value that starts at `i`. */
function valueEnd(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === QUOTE) return stringEnd(s, i);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    let depth = 0;
    for (let j = i; j < s.length; j++) {
      const d = s.charCodeAt(j);
      if (d === QUOTE) j = stringEnd(s, j) - 1;
      else if (d === OPEN_BRACE || d === OPEN_BRACKET) depth++;
      else if ((d === CLOSE_BRACE || d === CLOSE_BRACKET) && --depth === 0) return j + 1;
    }
    return endOfLine(s);
  }
  // A number, true, false or null: up to the next separator.
  let j = i;
  while (j < s.length) {
    const d = s.charCodeAt(j);
    if (d === COMMA || d === CLOSE_BRACE || d === CLOSE_BRACKET) return j;
    j++;
  }
  return endOfLine(s);
}

/** `i` at a string's opening quote: the index just past its closing quote. */
function stringEnd(s: string, i: number): number {
  let from = i + 1;
  for (;;) {
    const q = s.indexOf('"', from);
    if (q < 0) return endOfLine(s);
    let backslashes = 0;
    while (s.charCodeAt(q - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return q + 1;
    from = q + 1;
  }
}

/** Not valid JSON (pino never writes that): everything to the line's end is censored, the newline kept. */
function endOfLine(s: string): number {
  return s.endsWith('\n') ? s.length - 1 : s.length;
}
