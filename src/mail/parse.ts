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
}

export function parseMime(raw: Buffer, opts: ParseOptions): Promise<ParsedMime> {
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
        parts.push({
          contentType: (data.contentType || '').toLowerCase(),
          filename: data.filename,
          cid: data.cid,
          partId: data.partId,
          content: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size),
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
    parser.end(raw);
  });
}

/** mailparser's errors are about the input (the prescan let it through): refuse, naming them. */
function asReply(err: unknown): SmtpReplyError {
  if (err instanceof SmtpReplyError) return err;
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (e?.code === 'EMAXLEN') return new SmtpReplyError('mimeTooComplex', { detail: message });
  return new SmtpReplyError('mimeInvalid', { detail: `the MIME structure cannot be parsed (${message})` });
}
