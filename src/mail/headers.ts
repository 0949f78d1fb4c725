/**
 * Which top-level headers are forwarded to Cakemail in `additional_headers`, and the
 * Message-ID. The policy is a deny list: everything a client adds (X-*, List-*,
 * Reply-To, In-Reply-To, References, Message-ID, Precedence, Auto-Submitted, ...) is
 * forwarded, except
 *  - what the API builds itself from other fields: From, To, Cc, Bcc, Sender, Subject,
 *    Date, MIME-Version and every Content-* header (the body is re-encoded);
 *  - Cc and Bcc above all: the API refuses them, and a Bcc must never be disclosed;
 *  - envelope and trace headers that describe the hop into the gateway, not the message:
 *    Received, Return-Path, Delivered-To, X-Original-To, Envelope-To, Apparently-To,
 *    Resent-*, Received-SPF, Authentication-Results, ARC-*;
 *  - signatures that cannot survive re-encoding: DKIM-Signature, DomainKey-Signature;
 *  - Cakemail's control headers (control-headers.ts), consumed by the gateway.
 * Values are forwarded unfolded, controls turned to spaces, but otherwise as written
 * (encoded words stay encoded, so they remain valid on the wire whatever Cakemail does with
 * them). Message-ID,
 * In-Reply-To, References and Reply-To are forwarded once (the first occurrence).
 */
import { randomUUID } from 'node:crypto';
import { SmtpReplyError } from '../smtp/replies.ts';
import { CONTROL_HEADERS } from './control-headers.ts';
import { type HeaderField, fieldText } from './header-fields.ts';

const NOT_FORWARDED: ReadonlySet<string> = new Set([
  'from',
  'to',
  'cc',
  'bcc',
  'sender',
  'subject',
  'date',
  'mime-version',
  'received',
  'return-path',
  'delivered-to',
  'x-original-to',
  'envelope-to',
  'apparently-to',
  'received-spf',
  'authentication-results',
  'dkim-signature',
  'domainkey-signature',
]);
const NOT_FORWARDED_PREFIXES = ['content-', 'resent-', 'arc-'];
const SINGLE: ReadonlySet<string> = new Set(['message-id', 'in-reply-to', 'references', 'reply-to']);
/**
 * Controls other than HTAB, and the characters some readers take for a line break (VT, FF,
 * the file separators, NEL, U+2028/9: Python's splitlines, Unicode-aware parsers): in a
 * value forwarded as is they could start a header of their own downstream. A space instead.
 */
// eslint-disable-next-line no-control-regex -- matching controls is the point
const UNSAFE_CHAR = /[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029]/;
// eslint-disable-next-line no-control-regex -- matching controls is the point
const UNSAFE_CHARS = /[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029]/g;

export interface ForwardedHeaders {
  readonly headers: { name: string; value: string }[];
  readonly messageId: string;
  /** True when the message had no Message-ID and `messageId` was generated. */
  readonly generated: boolean;
}

export function isForwarded(lname: string): boolean {
  if (NOT_FORWARDED.has(lname) || CONTROL_HEADERS.has(lname)) return false;
  for (const p of NOT_FORWARDED_PREFIXES) if (lname.startsWith(p)) return false;
  return true;
}

export function forwardedHeaders(fields: readonly HeaderField[], hostname: string): ForwardedHeaders {
  const headers: { name: string; value: string }[] = [];
  const seen = new Set<string>();
  let messageId: string | undefined;
  for (const f of fields) {
    if (!isForwarded(f.lname)) continue;
    if (SINGLE.has(f.lname)) {
      if (seen.has(f.lname)) continue;
      seen.add(f.lname);
    }
    let value = fieldText(f.raw);
    if (UNSAFE_CHAR.test(value)) value = value.replace(UNSAFE_CHARS, ' ');
    if (f.lname === 'message-id') {
      value = normaliseMessageId(value);
      messageId = value;
      if (value === '') continue; // an empty Message-ID counts as none: one is generated below
    }
    if (value === '') continue; // an empty header carries nothing (and its name alone is not a header)
    headers.push({ name: f.name, value });
  }
  if (messageId) return { headers, messageId, generated: false };
  const generated = `<${randomUUID()}@${hostname}>`;
  headers.push({ name: 'Message-ID', value: generated });
  return { headers, messageId: generated, generated: true };
}

/**
 * `<id@host>` as written; a bare `id@host` gets its angle brackets. A value that holds no
 * message id at all is refused: forwarding it could make the message a reply to nothing
 * or collide with another message's identity.
 */
function normaliseMessageId(value: string): string {
  if (value === '') return '';
  const bracketed = /<([^<>\s]+)>/.exec(value);
  if (bracketed) return `<${bracketed[1]}>`;
  if (/^[^<>\s]+$/.test(value)) return `<${value}>`;
  throw new SmtpReplyError('mimeInvalid', {
    detail: `the Message-ID header "${value.slice(0, 60)}" holds no message id`,
  });
}
