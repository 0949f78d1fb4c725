/**
 * The common case without mailparser's stream machinery: a single-part text/plain or
 * text/html message in UTF-8 (or US-ASCII), 7bit/8bit/binary or base64 (padded at its end
 * only), with ASCII-only headers. That is most transactional mail, and mailparser's
 * per-message streams were the largest CPU cost of a worker (docs/benchmarks.md). Anything
 * else returns undefined and takes the mailparser path (parse.ts).
 *
 * The result must equal mailparser's for every message it accepts: headers go through the
 * same libmime calls and the same addressparser mailparser uses, and a property test
 * (test/unit/mail-fast-path.test.ts) compares both paths on generated messages.
 */
import { isUtf8 } from 'node:buffer';
import { createRequire } from 'node:module';
import libmime from 'libmime';
import type { HeaderField } from './header-fields.ts';
import { fieldText, firstField } from './header-fields.ts';
import { paddedAtEndOnly } from './base64-checks.ts';
import type { ScanResult } from './limits.ts';
import type { ParsedMime } from './parse.ts';

type Address = { name?: string; address?: string; group?: Address[] };
// mailparser's own addressparser (its pinned nodemailer), so both paths parse From alike.
const addressparser = createRequire(createRequire(import.meta.url).resolve('mailparser'))(
  'nodemailer/lib/addressparser',
) as (value: string) => Address[];

/**
 * `a@b.c`, `<a@b.c>`, `Name Two <a@b.c>`, `"Name Two" <a@b.c>`: plain ASCII words, no
 * comments, quoting inside the name, encoded words or second address. Anything else goes
 * to addressparser; the property test checks both give the same.
 */
const ADDR = '[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*';
const WORDS = '[A-Za-z0-9]+(?: [A-Za-z0-9]+)*';
const SIMPLE_FROM = new RegExp(
  `^(?:(?:(?<name>${WORDS})|"(?<quoted>${WORDS})") )?<(?<address>${ADDR})>$|^(?<bare>${ADDR})$`,
);

const PLAIN_ENCODINGS = new Set(['', '7bit', '8bit', 'binary']);
const UTF8_CHARSETS = new Set(['', 'utf-8', 'utf8', 'us-ascii', 'ascii']);

export function parseSimpleMessage(
  raw: Buffer,
  scan: Pick<ScanResult, 'headers' | 'parts' | 'contentType' | 'bodyStart'>,
): ParsedMime | undefined {
  const { headers, parts } = scan;
  if (parts !== 1 || raw[0] === 0x0d || raw[0] === 0x0a) return undefined; // no header block at all: leave it
  // The prescan's header end, the first line that is empty ("\n" or "\r\n") as for
  // mailparser: a search for CRLF CRLF or LF LF misses `...\n\r\n`.
  const headerEnd = scan.bodyStart;
  if (headerEnd < 0) return undefined;
  for (let i = 0; i < headerEnd; i++) if (raw[i]! > 0x7e) return undefined; // 8-bit header bytes: mailparser's charset guessing

  // Repeated fields: which one mailparser keeps is its business.
  for (const name of ['subject', 'from', 'content-type', 'content-transfer-encoding'])
    if (headers.filter((h) => h.lname === name).length > 1) return undefined;
  const type = scan.contentType; // the prescan's reading of the first Content-Type field
  const mime = type ? type.value.toLowerCase() : 'text/plain';
  if (mime !== 'text/plain' && mime !== 'text/html') return undefined;
  // Any other parameter (format=flowed, delsp, ...) changes how mailparser renders the text.
  if (type && [...type.params.keys()].some((k) => k !== 'charset')) return undefined;
  const charset = (type?.params.get('charset') ?? '').trim().toLowerCase();
  if (!UTF8_CHARSETS.has(charset)) return undefined;
  const cte = firstField(headers, 'content-transfer-encoding');
  const encoding = cte ? fieldText(cte.raw).trim().toLowerCase() : '';
  if (firstField(headers, 'content-disposition')) return undefined; // attachment semantics: leave to mailparser

  const bodyRaw = raw.subarray(headerEnd);
  let body: Buffer;
  if (PLAIN_ENCODINGS.has(encoding)) body = bodyRaw;
  else if (encoding === 'base64') {
    // Node's decoder stops at the first '='; mailparser's goes on after a padded run
    // (`SGVsbG8g\r\nd29ybGQsIA==\r\neW91...`, lines encoded apart): its path then.
    if (!paddedAtEndOnly(raw, headerEnd, raw.length)) return undefined;
    body = Buffer.from(bodyRaw.toString('latin1'), 'base64');
  } else return undefined;
  if (!isUtf8(body)) return undefined;
  const content = body.toString('utf8').replace(/\r\n/g, '\n');
  if (!/\S/.test(content)) return undefined; // refused as bodiless either way; mailparser's shape of "empty" varies

  const subjectField = firstField(headers, 'subject');
  const subject = subjectField ? decodeWords(headerValue(subjectField)) : '';
  const fromField = firstField(headers, 'from');
  const from = fromField ? firstAddress(headerValue(fromField)) : undefined;
  if (from === null) return undefined;
  return {
    ...(subject ? { subject } : {}), // mailparser leaves an empty Subject out
    ...(from ? { from } : {}),
    ...(mime === 'text/html' ? { html: content, text: '' } : { text: content }),
    parts: [],
  };
}

/** What mailparser's processHeaders does first: libmime.decodeHeader of the whole line, trimmed. */
function headerValue(field: HeaderField): string {
  // One line (the usual Subject and From): decodeHeader would only trim it, and for the
  // ASCII bytes this path admits the latin1 reading is already the final string. Folded
  // values, and lone CRs (which its unfolding turns into spaces), go through libmime as
  // mailparser does.
  const latin1 = field.raw.toString('latin1');
  const text = latin1.trimEnd();
  if (text.indexOf('\n') < 0 && text.indexOf('\r') < 0) return text.trimStart();
  const line = `${field.name}:${latin1}`;
  const value = String(libmime.decodeHeader(line)?.value ?? '').trim();
  return Buffer.from(value, 'binary').toString();
}

function decodeWords(value: string): string {
  // Every rewrite libmime.decodeWords makes starts at an encoded word's `=?`.
  if (!value.includes('=?')) return value;
  try {
    return libmime.decodeWords(value);
  } catch {
    return value;
  }
}

/**
 * The first address with an address, as parse.ts picks it. Returns null for the cases
 * mailparser post-processes (encoded words or punycode in the address): mailparser path.
 */
function firstAddress(value: string): { address: string; name?: string } | undefined | null {
  const simple = SIMPLE_FROM.exec(value);
  const address = simple?.groups?.address ?? simple?.groups?.bare;
  if (address !== undefined && !/@xn--/i.test(address)) {
    // What addressparser makes of these forms, without its tokenizer (~15 µs a message).
    const name = simple?.groups?.name ?? simple?.groups?.quoted;
    return { address, ...(name ? { name } : {}) };
  }
  const list = addressparser(value);
  const flat = list.flatMap((a) => (a.group ? a.group : [a]));
  const first = flat.find((a) => a.address);
  if (!first?.address) return undefined;
  if (/=\?|@xn--/i.test(first.address)) return null;
  const name = decodeWords((first.name ?? '').toString().trim());
  return { address: first.address, ...(name ? { name } : {}) };
}
