/**
 * The request bodies of one message's POST /v2/emails, one per recipient, from the fields
 * every recipient shares serialised once.
 *
 * Why: the body is almost all shared (subject, text, HTML, every attachment's base64) and
 * only `email` differs. Stringifying the whole SubmitEmail per recipient cost N times the
 * JSON of the message: for 5 recipients of a 1 MB attachment, five 1.4 MB stringifications.
 * JSON objects are unordered, so putting `email` first changes nothing for the API.
 *
 * The text and HTML bodies and the attachments' base64 are escaped apart from the rest
 * (textJson): JSON.stringify of a 5 KB text was the largest single JavaScript cost of
 * delivering a message (docs/benchmarks.md). The output is the same text as
 * JSON.stringify's, property-tested.
 */
import type { SubmitEmail } from './types.ts';

export class SubmitEmailBodies {
  /** JSON of the shared fields without its opening brace: `,"sender":…}` or `}`. */
  readonly #rest: string;
  /** #rest in UTF-8, when it is large: encoded once, copied behind each recipient's `email`. */
  readonly #restBytes: Buffer | undefined;

  constructor(shared: Omit<SubmitEmail, 'email'>) {
    const json = sharedJson(shared);
    this.#rest = json === '{}' ? '}' : `,${json.slice(1)}`;
    // A small body is encoded as fast whole as in two pieces; a large one (an attachment)
    // is not encoded again for every recipient: 1.05 ms against 0.2 ms a copy for 1 MB.
    if (this.#rest.length >= LARGE_REST) this.#restBytes = Buffer.from(this.#rest);
  }

  /** The body for one recipient: the shared fields and `email`. */
  for(recipient: string): Buffer {
    const head = `{"email":${JSON.stringify(recipient)}`;
    if (this.#restBytes === undefined) return Buffer.from(head + this.#rest);
    return Buffer.concat([Buffer.from(head), this.#restBytes]);
  }
}

const LARGE_REST = 64 * 1024;

/** Shorter strings are not worth the detour: JSON.stringify is as fast on them. */
const LONG_STRING = 1024;
/**
 * Stands in for the long string `i` while the rest is stringified. The NULs make it a
 * string no converted body or base64 content is (a body with a NUL is refused as binary);
 * should a field hold one anyway, its JSON is found twice and the whole object is
 * stringified instead.
 */
export const longMarker = (i: number): string => `\u0000cakemail-smtp-long-${i}\u0000`;

/**
 * JSON.stringify(shared), with the long strings (content.text, content.html, each
 * attachment's base64 content) escaped by textJson: on a 1 MB attachment's base64,
 * 0.5 ms against JSON.stringify's 3.2 ms.
 */
export function sharedJson(shared: Omit<SubmitEmail, 'email'>): string {
  const long: string[] = [];
  const stand = (value: string): string => {
    if (value.length < LONG_STRING) return value;
    long.push(value);
    return longMarker(long.length - 1);
  };
  const copy = { ...shared };
  const content = shared.content as SubmitEmail['content'] | undefined;
  if (typeof content === 'object' && content !== null && !Array.isArray(content)) {
    // Assigned over the spread's own keys: the key order, and so the JSON, stays as it was.
    const c = { ...content };
    if (typeof c.html === 'string') c.html = stand(c.html);
    if (typeof c.text === 'string') c.text = stand(c.text);
    copy.content = c;
  }
  const att = shared.attachment;
  if (Array.isArray(att)) copy.attachment = att.map((a) => withContent(a, stand));
  else if (typeof att === 'object' && att !== null) copy.attachment = withContent(att, stand);
  if (long.length === 0) return JSON.stringify(shared);

  const json = JSON.stringify(copy);
  // Where each marker's JSON stands (once each), then the pieces in that order.
  const spots: { at: number; end: number; text: string }[] = [];
  for (const [i, text] of long.entries()) {
    const marker = JSON.stringify(longMarker(i));
    const at = json.indexOf(marker);
    if (at < 0 || json.indexOf(marker, at + 1) >= 0) return JSON.stringify(shared);
    spots.push({ at, end: at + marker.length, text });
  }
  spots.sort((a, b) => a.at - b.at);
  let out = '';
  let from = 0;
  for (const { at, end, text } of spots) {
    out += json.slice(from, at) + textJson(text);
    from = end;
  }
  return out + json.slice(from);
}

/** An attachment with its content stood in for (anything else as it is). */
function withContent<T>(a: T, stand: (value: string) => string): T {
  const content = (a as { content?: unknown } | null)?.content;
  return typeof content === 'string' ? { ...a, content: stand(content) } : a;
}

/** Control characters JSON.stringify escapes, but for LF and tab (common, handled below). */
const RARE_CONTROLS = Array.from({ length: 0x20 }, (_, c) => String.fromCharCode(c)).filter(
  (c) => c !== '\n' && c !== '\t',
);

/**
 * JSON.stringify(text), faster on long text: V8 scans a string it stringifies at
 * ~450 MB/s (9-11 µs for 5 KB), while a native search per character that needs an escape
 * and a replace per character present take ~4 µs. Text holding a control character other
 * than LF and tab, or a lone surrogate (which JSON.stringify writes as \uXXXX), is left
 * to JSON.stringify.
 */
export function textJson(text: string): string {
  for (const c of RARE_CONTROLS) if (text.includes(c)) return JSON.stringify(text);
  if (!text.isWellFormed()) return JSON.stringify(text);
  const backslash = text.includes('\\');
  const quote = text.includes('"');
  const tab = text.includes('\t');
  let s = text;
  // The backslash first: the escapes after it add backslashes of their own.
  if (backslash) s = s.replaceAll('\\', '\\\\');
  if (quote) s = s.replaceAll('"', '\\"');
  if (tab) s = s.replaceAll('\t', '\\t');
  s = s.replace(/\n/g, '\\n');
  return `"${s}"`;
}
