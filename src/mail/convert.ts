/**
 * One raw RFC 5322 message (already size-bounded by the SMTP layer) to the parts of a
 * Cakemail SubmitEmail body. The caller adds `email` (one per recipient) and `sender`.
 *
 * Order of work, cheapest refusal first:
 *  1. prescan (limits.ts): MIME depth, part count, header sizes, broken boundaries, bad
 *     base64, undecodable transfer encodings; also yields the top-level header fields;
 *  2. control headers (control-headers.ts), validated before any decoding;
 *  3. one mailparser pass (parse.ts) for decoding;
 *  4. subject and bodies checked, attachments mapped (attachments.ts), headers filtered
 *     (headers.ts), digest computed (digest.ts).
 * Every refusal is an SmtpReplyError: mimeTooComplex, mimeInvalid or contentUnsupported.
 */
import type { Attachment } from '../cakemail/types.ts';
import { SmtpReplyError } from '../smtp/replies.ts';
import { toApiAttachments } from './attachments.ts';
import { type ControlFields, readControlFields } from './control-headers.ts';
import { contentDigest } from './digest.ts';
import { fieldText, firstField } from './header-fields.ts';
import { forwardedHeaders } from './headers.ts';
import { prescan } from './limits.ts';
import { parseSimpleMessage } from './fast-path.ts';
import { parseMime } from './parse.ts';
import { bodyHasInvalidBytes, subjectHasInvalidBytes } from './replacement-char.ts';

export type { ControlFields } from './control-headers.ts';

export interface ConvertOptions {
  defaultType: 'transactional' | 'marketing';
  defaultListId?: number;
  /** MIME nesting depth (multipart levels) accepted. */
  maxDepth: number;
  /** MIME parts accepted in total, containers included. */
  maxParts: number;
  /** Bytes of the top-level header block, and of each part's header block. */
  maxHeaderBytes: number;
  /** For a generated Message-ID: <uuid@hostname>. */
  hostname: string;
}

export interface ConvertedMessage {
  content: {
    subject: string;
    html?: string;
    text?: string;
    encoding: 'utf-8';
    type: 'marketing' | 'transactional';
  };
  /** Forwarded headers (policy in headers.ts): never Cc/Bcc, control or structural headers. */
  additionalHeaders: { name: string; value: string }[];
  attachments: Attachment[];
  control: ControlFields;
  /** The message's Message-ID, or a generated one (then also in additionalHeaders). */
  messageId: string;
  from?: { address: string; name?: string };
  /** sha256 hex over the converted content (digest.ts): same message, same digest. */
  digest: string;
  /**
   * The message carries a Date or a Message-ID of its own: what tells a client's retry
   * (same values) from a deliberate second send of the same text (new values). Without
   * either, the digest cannot tell them apart (pipeline.ts says what follows).
   */
  identified: boolean;
  /**
   * Alternative renderings left out ("1.3 text/x-amp-html"): other text/* parts of a
   * multipart/alternative that also has the text or HTML the API carries. For the logs.
   */
  droppedAlternatives?: string[];
}

export async function convertMessage(raw: Buffer, opts: ConvertOptions): Promise<ConvertedMessage> {
  const scan = prescan(raw, opts);
  const control = readControlFields(scan.headers, opts);
  if (!firstField(scan.headers, 'subject')) throw noSubject();
  const forwarded = forwardedHeaders(scan.headers, opts.hostname);

  const parsed =
    parseSimpleMessage(raw, scan) ??
    (await parseMime(raw, {
      maxHeaderBytes: opts.maxHeaderBytes,
      maxParts: opts.maxParts,
      textBesideHtml: scan.textBesideHtml,
      largeBase64: scan.largeBase64,
    }));

  const subject = (parsed.subject ?? '').replace(/[\r\n\t]+/g, ' ').trim();
  if (!subject) throw noSubject();
  // A U+FFFD is refused when it replaced invalid bytes, kept when the sender wrote one
  // (replacement-char.ts looks at the bytes; only asked when there is one).
  if (subject.includes('\uFFFD') && subjectHasInvalidBytes(scan.headers)) {
    throw invalid('the Subject holds bytes that are not valid in its charset (or an unknown charset)');
  }
  const html = nonBlank(parsed.html);
  const text = nonBlank(parsed.text);
  if (html === undefined && text === undefined) {
    throw invalid('the message has no text or HTML body (the Cakemail API needs one of them)');
  }
  if ((html?.includes('\uFFFD') || text?.includes('\uFFFD')) && bodyHasInvalidBytes(raw, opts)) {
    const declared = scan.charsets.length > 0 ? scan.charsets.join(', ') : 'none declared, read as UTF-8';
    throw invalid(`the body holds bytes that are not valid in its charset (${declared})`);
  }

  const dropped: string[] = [];
  const parts = parsed.parts.filter((p) => {
    const type = p.partId === null ? undefined : scan.alternativeRenderings.get(p.partId);
    if (type === undefined) return true;
    dropped.push(`${p.partId} ${type}`);
    return false;
  });
  const attachments = toApiAttachments(parts, html);
  const date = firstField(scan.headers, 'date');
  const digest = contentDigest({
    subject,
    html,
    text,
    control,
    from: parsed.from,
    headers: forwarded.generated ? forwarded.headers.slice(0, -1) : forwarded.headers,
    date: date ? fieldText(date.raw) : undefined,
    attachments: attachments.map((a, i) => ({
      filename: a.filename,
      type: a.type,
      content: (parts[i] as { content: Buffer }).content,
    })),
  });

  return {
    content: {
      subject,
      ...(html !== undefined ? { html } : {}),
      ...(text !== undefined ? { text } : {}),
      encoding: 'utf-8',
      type: control.type,
    },
    additionalHeaders: forwarded.headers,
    attachments,
    control,
    messageId: forwarded.messageId,
    ...(parsed.from ? { from: parsed.from } : {}),
    digest,
    identified: date !== undefined || !forwarded.generated,
    ...(dropped.length > 0 ? { droppedAlternatives: dropped } : {}),
  };
}

/** A body that is empty or only whitespace is no body (the API wants at least one character). */
function nonBlank(body: string | undefined): string | undefined {
  return body !== undefined && /\S/.test(body) ? body : undefined;
}

function noSubject(): SmtpReplyError {
  return invalid('the message has no Subject (the Cakemail API requires a non-empty subject)');
}

function invalid(detail: string): SmtpReplyError {
  return new SmtpReplyError('mimeInvalid', { detail });
}
