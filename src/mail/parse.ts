/**
 * The one mailparser pass: decodes transfer encodings and charsets (iconv-lite and
 * encoding-japanese through libmime), the subject's encoded words and the From address,
 * and collects the non-body parts. Runs after the prescan, so the structure it walks is
 * already known to be within the limits; the limits are passed on as a backstop.
 *
 * Options are chosen for fidelity and speed: no HTML-to-text conversion (an HTML-only
 * message stays HTML-only, and html-to-text is the slowest step), no link detection, no
 * checksums, no cid: rewriting, and embedded message/rfc822 parts stay opaque parts
 * (the API cannot carry them; the converter refuses them by type).
 */
import { MailParser, type AttachmentStream, type MessageText } from 'mailparser';
import { SmtpReplyError } from '../smtp/replies.ts';
import type { RawPart } from './attachments.ts';
import { contentIdOf } from './header-fields.ts';
import type { Base64Body } from './limits.ts';

export interface ParsedMime {
  readonly subject?: string;
  readonly from?: { address: string; name?: string };
  readonly html?: string;
  readonly text?: string;
  readonly parts: RawPart[];
}

export interface ParseOptions {
  readonly maxHeaderBytes: number;
  readonly maxParts: number;
  /** Render text/plain parts into the HTML as well (text and HTML side by side in a multipart/mixed). */
  readonly textBesideHtml: boolean;
  /**
   * Attachment bodies to decode here rather than in mailparser (the prescan's
   * largeBase64): mailparser reads the message without them and the parts get them back.
   */
  readonly largeBase64?: readonly Base64Body[];
}

export function parseMime(raw: Buffer, opts: ParseOptions): Promise<ParsedMime> {
  const apart = new Map((opts.largeBase64 ?? []).map((b) => [b.path, b] as const));
  const input = apart.size === 0 ? raw : withoutBodies(raw, apart.values());
  return new Promise((resolve, reject) => {
    const parser = new MailParser({
      skipHtmlToText: true,
      skipTextToHtml: !opts.textBesideHtml,
      skipTextLinks: true,
      skipImageLinks: true,
      checksumAlgo: false,
      ignoreEmbedded: true,
      // mailsplit counts at least 64 bytes per header line; the prescan counted real bytes
      maxHeadSize: opts.maxHeaderBytes * 2 + 64 * 1024,
      maxChildNodes: opts.maxParts + 1,
    });
    const parts: RawPart[] = [];
    let body: MessageText | undefined;
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      parser.removeAllListeners('data');
      parser.destroy();
      reject(asReply(err));
    };

    parser.on('data', (data: AttachmentStream | MessageText) => {
      if (data.type === 'text') {
        body = data;
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      data.content.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
      });
      data.content.on('error', fail);
      data.content.on('end', () => {
        const body = data.partId ? apart.get(data.partId) : undefined;
        parts.push({
          contentType: (data.contentType || '').toLowerCase(),
          filename: data.filename,
          cid: contentIdOf(data.contentId),
          partId: data.partId,
          content: body
            ? Buffer.from(raw.toString('latin1', body.start, body.end), 'base64')
            : chunks.length === 1
              ? (chunks[0] as Buffer)
              : Buffer.concat(chunks, size),
        });
        data.release?.();
      });
    });
    parser.on('error', fail);
    parser.on('end', () => {
      if (settled) return;
      settled = true;
      const from = parser.from?.value.flatMap((a) => (a.group ? a.group : [a])).find((a) => a.address);
      resolve({
        subject: typeof parser.subject === 'string' ? parser.subject : undefined,
        from: from?.address
          ? { address: from.address, ...(from.name ? { name: from.name } : {}) }
          : undefined,
        html: body?.html,
        text: body?.text,
        parts,
      });
    });
    parser.end(input);
  });
}

/** `raw` with the given bodies (in message order) cut out: each part's header block then ends the part. */
function withoutBodies(raw: Buffer, bodies: Iterable<Base64Body>): Buffer {
  const pieces: Buffer[] = [];
  let from = 0;
  for (const b of bodies) {
    pieces.push(raw.subarray(from, b.start));
    from = b.end;
  }
  pieces.push(raw.subarray(from));
  return Buffer.concat(pieces);
}

/** mailparser's errors are about the input (the prescan let it through): refuse, naming them. */
function asReply(err: unknown): SmtpReplyError {
  if (err instanceof SmtpReplyError) return err;
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (e?.code === 'EMAXLEN') return new SmtpReplyError('mimeTooComplex', { detail: message });
  return new SmtpReplyError('mimeInvalid', { detail: `the MIME structure cannot be parsed (${message})` });
}
