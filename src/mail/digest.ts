/**
 * The duplicate-detection digest: sha256 over the canonical converted content, i.e. what
 * would be sent to Cakemail, not over the raw bytes. So a client that re-sends the same
 * message gets the same digest (same bytes give the same conversion), and so does one that
 * re-encodes it (new MIME boundaries, another transfer encoding); any change to what the
 * recipient would get (subject, bodies, attachments, forwarded headers, control fields,
 * From) changes it. Two exceptions keep the digest honest:
 *  - a Message-ID the gateway generated is left out (it is random per attempt);
 *  - the Date header is included although it is not forwarded: it is what tells apart two
 *    deliberate sends of an identical message, which must both be delivered.
 * Every field is length-prefixed, so no two different inputs can hash the same stream.
 */
import { createHash, type Hash } from 'node:crypto';
import type { ControlFields } from './control-headers.ts';

export interface DigestInput {
  readonly subject: string;
  readonly html?: string;
  readonly text?: string;
  readonly control: ControlFields;
  readonly from?: { address: string; name?: string };
  /** Forwarded headers, the generated Message-ID excluded. */
  readonly headers: readonly { name: string; value: string }[];
  readonly date?: string;
  /** Attachments with their decoded bytes (hashed raw rather than as base64: fewer bytes). */
  readonly attachments: readonly { filename: string; type: string; content: Buffer }[];
}

export function contentDigest(input: DigestInput): string {
  const h = createHash('sha256');
  field(h, 'cakemail-smtp-digest/1');
  field(h, input.subject);
  optional(h, input.html);
  optional(h, input.text);
  const c = input.control;
  field(h, c.type);
  optional(h, c.senderId);
  optional(h, c.accountId?.toString());
  optional(h, c.listId?.toString());
  optional(h, c.tags?.join(','));
  optional(h, c.tracking ? trackingKey(c.tracking) : undefined);
  optional(h, input.from?.address);
  optional(h, input.from?.name);
  optional(h, input.date);
  field(h, String(input.headers.length));
  for (const { name, value } of input.headers) {
    field(h, name.toLowerCase());
    field(h, value);
  }
  field(h, String(input.attachments.length));
  for (const a of input.attachments) {
    field(h, a.filename);
    field(h, a.type);
    field(h, a.content);
  }
  return h.digest('hex');
}

function trackingKey(t: NonNullable<ControlFields['tracking']>): string {
  const v = (b: boolean | undefined) => (b === undefined ? '-' : b ? '1' : '0');
  return v(t.opens) + v(t.clicks_html) + v(t.clicks_text);
}

function field(h: Hash, value: string | Buffer): void {
  const len = typeof value === 'string' ? Buffer.byteLength(value) : value.length;
  h.update(`${len}:`);
  h.update(value);
}

function optional(h: Hash, value: string | undefined): void {
  if (value === undefined) h.update('-');
  else {
    h.update('+');
    field(h, value);
  }
}
