/**
 * Byte-level header helpers shared by the prescan and the header passthrough: split a
 * header block into fields, unfold and decode a raw value, and read the parameters of a
 * structured value (Content-Type). They work on the raw bytes so that the top-level
 * header block is parsed once, by the prescan, and never re-read from mailparser's
 * latin1-decoded copy.
 */
import { isUtf8 } from 'node:buffer';
import libmime from 'libmime';

export interface HeaderField {
  /** The name as written (trailing whitespace of the obsolete `Name : value` syntax removed). */
  readonly name: string;
  /** Lower-cased name, for lookups. */
  readonly lname: string;
  /** The raw value bytes after the colon, still folded. A view into the message, not a copy. */
  readonly raw: Buffer;
}

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;

/**
 * Splits `raw[start, end)` (a header block without its terminating blank line) into fields.
 * A line that is neither a continuation nor `name: value` is skipped: it carries no field a
 * receiver could name (an mbox `From ` line, a stray word), and mailparser ignores it too.
 */
export function splitFields(raw: Buffer, start: number, end: number): HeaderField[] {
  const fields: HeaderField[] = [];
  let pos = start;
  while (pos < end) {
    const lineEnd = nextLineEnd(raw, pos, end);
    // a continuation line directly after a skipped line has no field to belong to
    if (raw[pos] === SP || raw[pos] === HT) {
      pos = lineEnd;
      continue;
    }
    let colon = pos;
    while (colon < lineEnd && raw[colon] !== COLON) colon++;
    let fieldEnd = lineEnd;
    while (fieldEnd < end && (raw[fieldEnd] === SP || raw[fieldEnd] === HT)) {
      fieldEnd = nextLineEnd(raw, fieldEnd, end);
    }
    if (colon > pos && colon < lineEnd) {
      let nameEnd = colon;
      while (nameEnd > pos && (raw[nameEnd - 1] === SP || raw[nameEnd - 1] === HT)) nameEnd--;
      const name = raw.toString('latin1', pos, nameEnd);
      if (name.length > 0 && /^[\x21-\x39\x3b-\x7e]+$/.test(name)) {
        fields.push({ name, lname: name.toLowerCase(), raw: raw.subarray(colon + 1, fieldEnd) });
      }
    }
    pos = fieldEnd;
  }
  return fields;
}

/**
 * After the next LF, or `end`. A byte loop: header lines are tens of bytes, and a native
 * `indexOf` call per line cost more than the loop (splitFields was ~7 % of a conversion).
 */
export function nextLineEnd(raw: Buffer, pos: number, end: number): number {
  let i = pos;
  while (i < end && raw[i] !== LF) i++;
  return i < end ? i + 1 : end;
}

/**
 * The value of a field as one line of text: folding line breaks removed (RFC 5322 2.2.3,
 * the whitespace after them kept), outer whitespace trimmed. Bytes are read as UTF-8
 * (RFC 6532) when they are valid UTF-8, else as latin1, so a legacy 8-bit header keeps
 * its characters instead of turning into U+FFFD. Encoded words are left encoded.
 */
export function fieldText(raw: Buffer): string {
  let hasHigh = false;
  let hasBreak = false;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i] as number;
    if (b === CR || b === LF) hasBreak = true;
    else if (b > 0x7e) hasHigh = true;
  }
  let text = hasHigh && isUtf8(raw) ? raw.toString('utf8') : raw.toString('latin1');
  if (hasBreak) text = text.replace(/[\r\n]+/g, '');
  return text.trim();
}

/**
 * The id of a Content-ID (RFC 2045 7, RFC 2392): what stands between its angle brackets,
 * comments ignored. mailparser only trims a leading `<` and a trailing `>`, so in
 * `<logo@x> (company logo)` the comment stayed and no `cid:logo@x` matched the part.
 */
export function contentIdOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const text = stripComments(value).trim();
  const bracketed = /<([^<>]*)>/.exec(text);
  const id = (bracketed ? (bracketed[1] as string) : text).trim();
  return id === '' ? undefined : id;
}

/** The first field of that (lower-case) name, or undefined. */
export function firstField(fields: readonly HeaderField[], lname: string): HeaderField | undefined {
  for (const f of fields) if (f.lname === lname) return f;
  return undefined;
}

export interface StructuredValue {
  /** Lower-cased leading token (`multipart/mixed`, `attachment`); '' when absent. */
  readonly value: string;
  /** Parameters by lower-cased name, RFC 2231 continuations joined and charset prefixes dropped. */
  readonly params: ReadonlyMap<string, string>;
}

/** The parameters the prescan reads; in RFC 2231 form, libmime's reading of them is taken. */
const READ_PARAMS = ['boundary', 'charset'] as const;

/**
 * Parses `type/subtype; name=value; name="quoted"` with comments removed, quoted strings
 * unescaped, and RFC 2231 `name*0=`, `name*=charset''pct` forms joined. Lenient on purpose:
 * it only has to agree with mailparser on the handful of parameters the prescan reads
 * (boundary, charset).
 *
 * An RFC 2231 value beats a plain one of the same name, in either order, as in libmime
 * (the plain one is the ASCII fallback, RFC 6266 4.3): keeping `boundary=c` of
 * `boundary*=utf-8''b; boundary=c` split the message elsewhere than mailparser. For
 * boundary and charset in that form (rare) the value is libmime's own parseHeaderValue's,
 * the reader mailparser's splitter uses, so that its ways of joining and decoding the
 * pieces are matched exactly; the joining here serves the other names.
 */
export function parseStructured(text: string): StructuredValue {
  const tokens = splitParams(stripComments(text));
  const value = (tokens[0] ?? '').trim().toLowerCase();
  const plain = new Map<string, string>();
  const pieces = new Map<string, { n: number; v: string; ext: boolean }[]>();
  for (let i = 1; i < tokens.length; i++) {
    const tok = tokens[i] as string;
    const eq = tok.indexOf('=');
    if (eq <= 0) continue;
    const key = tok.slice(0, eq).trim().toLowerCase();
    const val = unquote(tok.slice(eq + 1).trim());
    const m = /^([^*]+)\*(\d+)?(\*)?$/.exec(key);
    if (!m) {
      if (!plain.has(key)) plain.set(key, val);
      continue;
    }
    const base = m[1] as string;
    const list = pieces.get(base) ?? [];
    list.push({ n: m[2] === undefined ? 0 : Number(m[2]), v: val, ext: m[3] === '*' || m[2] === undefined });
    pieces.set(base, list);
  }
  if (pieces.size === 0) return { value, params: plain };
  for (const [base, list] of pieces) {
    list.sort((a, b) => a.n - b.n);
    let joined = '';
    for (const [idx, p] of list.entries()) {
      let v = p.v;
      if (p.ext) {
        if (idx === 0) v = v.replace(/^[^']*'[^']*'/, '');
        v = percentDecode(v);
      }
      joined += v;
    }
    plain.set(base, joined);
  }
  if (READ_PARAMS.some((name) => pieces.has(name))) {
    const parsed = libmime.parseHeaderValue(text, { stripComments: true });
    for (const name of READ_PARAMS) {
      if (!pieces.has(name)) continue;
      const v = parsed.params[name];
      if (v === undefined) plain.delete(name);
      else plain.set(name, v);
    }
  }
  return { value, params: plain };
}

/**
 * Removes RFC 822 comments outside quoted strings, as libmime does for mailparser: a "("
 * that continues an unquoted parameter value (right after "=" or a value character, as in
 * `boundary=(c)b` or `name=Invoice(1).pdf`) is part of the value, anywhere else it opens
 * a comment. Agreeing on this keeps the prescan's boundaries equal to mailparser's.
 */
function stripComments(text: string): string {
  if (!text.includes('(')) return text;
  let out = '';
  let depth = 0;
  let quoted = false;
  let inValue = false;
  let tokenOpen = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (depth > 0) {
      if (c === '\\') i++;
      else if (c === '(') depth++;
      else if (c === ')') depth--;
      continue;
    }
    if (quoted) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') quoted = false;
      continue;
    }
    if (c === '(' && !tokenOpen) {
      depth = 1;
      continue;
    }
    out += c;
    if (c === '"') {
      quoted = true;
      tokenOpen = false;
    } else if (c === ';') {
      inValue = false;
      tokenOpen = false;
    } else if (c === '=') {
      inValue = true;
      tokenOpen = true;
    } else if (c === ' ' || c === '\t') tokenOpen = false;
    else tokenOpen = inValue;
  }
  return out;
}

function splitParams(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '\\' && quoted) {
      cur += c + (text[i + 1] ?? '');
      i++;
    } else if (c === '"') {
      quoted = !quoted;
      cur += c;
    } else if (c === ';' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function unquote(v: string): string {
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) return v.slice(1, -1).replace(/\\(.)/g, '$1');
  // an unquoted value ends at whitespace (anything after it is not part of a token)
  const ws = v.search(/\s/);
  return ws === -1 ? v : v.slice(0, ws);
}

function percentDecode(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}
