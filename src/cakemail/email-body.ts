/**
 * The request bodies of one message's POST /v2/emails, one per recipient, from the fields
 * every recipient shares serialised once.
 *
 * Why: the body is almost all shared (subject, text, HTML, every attachment's base64) and
 * only `email` differs. Stringifying the whole SubmitEmail per recipient cost N times the
 * JSON of the message: for 5 recipients of a 1 MB attachment, five 1.4 MB stringifications.
 * JSON objects are unordered, so putting `email` first changes nothing for the API.
 *
 * The text and HTML bodies are escaped apart from the rest (textJson): JSON.stringify of
 * a 5 KB text was the largest single JavaScript cost of delivering a message
 * (docs/benchmarks.md). The output is the same text as JSON.stringify's, property-tested.
 */
import type { SubmitEmail } from './types.ts';

export class SubmitEmailBodies {
  /** JSON of the shared fields without its opening brace: `,"sender":…}` or `}`. */
  readonly #rest: string;

  constructor(shared: Omit<SubmitEmail, 'email'>) {
    const json = sharedJson(shared);
    this.#rest = json === '{}' ? '}' : `,${json.slice(1)}`;
  }

  /** The body for one recipient: the shared fields and `email`. */
  for(recipient: string): Buffer {
    return Buffer.from(`{"email":${JSON.stringify(recipient)}${this.#rest}`);
  }
}

/** Shorter bodies are not worth the detour: JSON.stringify is as fast on them. */
const LONG_BODY = 1024;
/**
 * Stand in for the long bodies while the rest is stringified. The NUL makes them strings
 * no converted body is (a body with a NUL is refused as binary); should a field hold one
 * anyway, its JSON is found twice and the whole object is stringified instead.
 */
const HTML_MARKER = '\u0000cakemail-smtp-html\u0000';
const TEXT_MARKER = '\u0000cakemail-smtp-text\u0000';
/** The markers as the stringified rest holds them. */
const HTML_MARKER_JSON = JSON.stringify(HTML_MARKER);
const TEXT_MARKER_JSON = JSON.stringify(TEXT_MARKER);

/** JSON.stringify(shared), with a long content.text and content.html escaped by textJson. */
export function sharedJson(shared: Omit<SubmitEmail, 'email'>): string {
  const content = shared.content as SubmitEmail['content'] | undefined;
  const html = longBody(content?.html);
  const text = longBody(content?.text);
  if (html === undefined && text === undefined) return JSON.stringify(shared);
  const copy = { ...content };
  if (html !== undefined) copy.html = HTML_MARKER;
  if (text !== undefined) copy.text = TEXT_MARKER;
  let json: string | undefined = JSON.stringify({ ...shared, content: copy });
  if (html !== undefined) json = splice(json, HTML_MARKER_JSON, html);
  if (text !== undefined && json !== undefined) json = splice(json, TEXT_MARKER_JSON, text);
  return json ?? JSON.stringify(shared);
}

function longBody(value: unknown): string | undefined {
  return typeof value === 'string' && value.length >= LONG_BODY ? value : undefined;
}

/** `json` with the one occurrence of `markerJson` replaced by `body`'s JSON; undefined if not exactly one. */
function splice(json: string, markerJson: string, body: string): string | undefined {
  const at = json.indexOf(markerJson);
  if (at < 0 || json.indexOf(markerJson, at + 1) >= 0) return undefined;
  return json.slice(0, at) + textJson(body) + json.slice(at + markerJson.length);
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
