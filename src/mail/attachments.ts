/**
 * Maps the non-body parts mailparser reports to the API's attachment objects, or refuses
 * the message: the API only carries the nine types of its enum, as named files, and has
 * no inline parts. Nothing is dropped: a part that cannot be carried refuses the message
 * with contentUnsupported naming the part.
 */
import type { Attachment, AttachmentType } from '../cakemail/types.ts';
import { SmtpReplyError } from '../smtp/replies.ts';

/** One non-body part as mailparser decoded it. */
export interface RawPart {
  /** Lower-cased content type (mailparser already guessed it from the filename for octet-stream). */
  readonly contentType: string;
  readonly filename?: string;
  /** Content-ID without angle brackets. */
  readonly cid?: string;
  /** mailparser's dotted part number, null for a single-part message. */
  readonly partId: string | null;
  readonly content: Buffer;
}

const BY_TYPE: Readonly<Record<string, AttachmentType>> = {
  'text/csv': 'csv',
  'text/x-csv': 'csv',
  'text/comma-separated-values': 'csv',
  'application/csv': 'csv',
  'application/x-csv': 'csv',
  'application/msword': 'doc',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
  'text/calendar': 'calendar',
  'application/ics': 'calendar',
  'image/jpeg': 'jpeg',
  'image/jpg': 'jpeg',
  'image/pjpeg': 'jpeg',
  'application/pdf': 'pdf',
  'application/x-pdf': 'pdf',
  'image/png': 'png',
  'image/x-png': 'png',
  'application/vnd.ms-excel': 'xls',
  'application/x-msexcel': 'xls',
  'application/x-excel': 'xls',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'xlsx',
};

const BY_EXTENSION: Readonly<Record<string, AttachmentType>> = {
  csv: 'csv',
  doc: 'doc',
  docx: 'docx',
  ics: 'calendar',
  ical: 'calendar',
  ifb: 'calendar',
  jpg: 'jpeg',
  jpeg: 'jpeg',
  jpe: 'jpeg',
  pdf: 'pdf',
  png: 'png',
  xls: 'xls',
  xlsx: 'xlsx',
};

const EXTENSION: Readonly<Record<AttachmentType, string>> = {
  csv: 'csv',
  doc: 'doc',
  docx: 'docx',
  calendar: 'ics',
  jpeg: 'jpeg',
  pdf: 'pdf',
  png: 'png',
  xls: 'xls',
  xlsx: 'xlsx',
};

// Types that say nothing about the content: the filename extension decides.
const GENERIC_TYPES = new Set([
  'application/octet-stream',
  'binary/octet-stream',
  'application/x-download',
  'application/download',
  'application/force-download',
  'application/unknown',
]);
// Types senders commonly put on files of another enum type (Windows labels every .csv as
// an Excel sheet; scripts attach .csv/.ics as text/plain): the extension wins if it maps.
const EXTENSION_OVERRIDES: Readonly<Record<string, readonly AttachmentType[]>> = {
  'application/vnd.ms-excel': ['csv'],
  'text/plain': ['csv', 'calendar'],
};

const ENUM_TEXT = 'csv, doc, docx, calendar (ics), jpeg, pdf, png, xls, xlsx';

export function toApiAttachments(parts: readonly RawPart[], html: string | undefined): Attachment[] {
  const referenced = html ? cidReferences(html) : undefined;
  const out: Attachment[] = [];
  for (const part of parts) {
    const label = part.filename?.trim() || (part.partId ? `#${part.partId}` : '#1');
    // The API has no inline parts (no Content-ID, no multipart/related): an image the HTML
    // shows through cid: would reach the recipient as a broken image plus a loose file.
    if (part.cid && referenced?.has(part.cid.toLowerCase())) {
      throw new SmtpReplyError('contentUnsupported', {
        part: label,
        detail: `inline image (cid:${part.cid}) shown by the HTML; the API has no inline parts, link the image by URL instead`,
      });
    }
    const type = attachmentType(part.contentType, extensionOf(part.filename));
    if (!type) {
      throw new SmtpReplyError('contentUnsupported', {
        part: label,
        detail: `type ${part.contentType || 'unknown'} is not among ${ENUM_TEXT}`,
      });
    }
    out.push({
      filename: apiFilename(part.filename, type, out.length + 1),
      type,
      content: part.content.toString('base64'),
    });
  }
  return out;
}

export function attachmentType(
  contentType: string,
  extension: string | undefined,
): AttachmentType | undefined {
  const byExt = extension ? BY_EXTENSION[extension] : undefined;
  if (GENERIC_TYPES.has(contentType) || contentType === '') return byExt;
  if (byExt && EXTENSION_OVERRIDES[contentType]?.includes(byExt)) return byExt;
  return BY_TYPE[contentType];
}

function extensionOf(filename: string | undefined): string | undefined {
  const m = filename ? /\.([A-Za-z0-9]{1,5})\s*$/.exec(filename) : null;
  return m ? (m[1] as string).toLowerCase() : undefined;
}

const TRANSLITERATE: Readonly<Record<string, string>> = {
  ß: 'ss',
  æ: 'ae',
  Æ: 'AE',
  œ: 'oe',
  Œ: 'OE',
  ø: 'o',
  Ø: 'O',
  đ: 'd',
  Đ: 'D',
  ł: 'l',
  Ł: 'L',
  þ: 'th',
  Þ: 'TH',
  ð: 'd',
  Ð: 'D',
};

/**
 * A filename the API accepts (^[a-zA-Z0-9-_]+\.(csv|doc|docx|ics|jpeg|pdf|png|xls|xlsx)$):
 * directory part and a known extension removed, accents transliterated, every other run of
 * characters outside [a-zA-Z0-9-_] turned into one `_`, the extension of the API type
 * appended (`.jpg` becomes `.jpeg`, a calendar `.ics`). Falls back to `attachment-N.ext`.
 */
export function apiFilename(filename: string | undefined, type: AttachmentType, index: number): string {
  let base = (filename ?? '').replace(/^.*[/\\]/, '').trim();
  const ext = extensionOf(base);
  if (ext && (BY_EXTENSION[ext] || ext === EXTENSION[type])) base = base.slice(0, base.lastIndexOf('.'));
  base = base
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/[ßæÆœŒøØđĐłŁþÞðÐ]/g, (c) => TRANSLITERATE[c] ?? '_')
    .replace(/[^a-zA-Z0-9-_]+/g, '_')
    .slice(0, 100)
    .replace(/^_+|_+$/g, '');
  if (!/[a-zA-Z0-9]/.test(base)) base = `attachment-${index}`;
  return `${base}.${EXTENSION[type]}`;
}

/** Content-IDs the HTML refers to (cid: URLs, RFC 2392: percent-encoded, case-insensitive here). */
function cidReferences(html: string): Set<string> {
  const refs = new Set<string>();
  if (!/cid:/i.test(html)) return refs;
  for (const m of html.matchAll(/\bcid:([^"'\s<>)]{1,998})/gi)) {
    let id = m[1] as string;
    try {
      id = decodeURIComponent(id);
    } catch {
      // not percent-encoded after all: compare as written
    }
    refs.add(id.toLowerCase());
  }
  return refs;
}
