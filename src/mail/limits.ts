/**
 * The prescan: one linear pass over the raw bytes, before mailparser sees anything, that
 * enforces the structural limits (MIME nesting depth, part count, header block size) and
 * refuses the malformations a parser would "repair" by silently losing content. It stops
 * at the first limit crossed, so a hostile message (10,000 parts, 1,000 nesting levels, a
 * 5 MB header) costs a scan of the bytes up to that point and a few small allocations.
 *
 * The scan follows the delimiter rules mailparser's splitter (@zone-eu/mailsplit) uses, so
 * both see the same tree: a delimiter line of any open ancestor multipart ends everything
 * below it, a closed multipart's later delimiter lines are epilogue, trailing whitespace
 * after a delimiter is allowed, message/rfc822 parts are not descended into (the converter
 * refuses them). mailparser also gets the limits as a backstop (maxHeadSize, maxChildNodes).
 *
 * It also keeps the top-level header fields (raw bytes) so they are parsed only once.
 */
import { SmtpReplyError } from '../smtp/replies.ts';
import { checkBase64, paddedAtEndOnly } from './base64-checks.ts';
import {
  type HeaderField,
  type StructuredValue,
  fieldText,
  firstField,
  nextLineEnd,
  parseStructured,
  splitFields,
} from './header-fields.ts';

export interface ScanLimits {
  readonly maxDepth: number;
  readonly maxParts: number;
  readonly maxHeaderBytes: number;
}

export interface ScanResult {
  /** Top-level header fields, in message order. */
  readonly headers: HeaderField[];
  /** The top-level Content-Type, parsed (the fast path reads it again otherwise). */
  readonly contentType: StructuredValue | undefined;
  /**
   * Where the top-level body starts: after the first line that is empty ("\n" or "\r\n",
   * mailparser's splitter ends a header block there too), or -1 when there is none. The fast
   * path takes its body from here, so both paths split header and body at the same byte.
   */
  readonly bodyStart: number;
  /** MIME parts seen, the top-level one and every multipart container included. */
  readonly parts: number;
  /** Deepest multipart nesting (0 for a single-part message). */
  readonly depth: number;
  /** Charsets declared by the text/plain and text/html body parts, lower-cased. */
  readonly charsets: readonly string[];
  /**
   * A text/plain body part sits outside any multipart/alternative beside an HTML body part
   * (multipart/mixed of text and html): mailparser must then render the text into the HTML
   * too, or the HTML version of the message would miss it.
   */
  readonly textBesideHtml: boolean;
  /**
   * Other renderings inside a multipart/alternative that also has a text or HTML body
   * (text/x-amp-html, text/watch-html, text/enriched): part path → type. The recipient's
   * client shows one alternative; the API carries the text and HTML ones, so these are left
   * out deliberately (and reported), not refused.
   */
  readonly alternativeRenderings: ReadonlyMap<string, string>;
  /** Base64 bodies parse.ts decodes itself instead of mailparser (see Base64Body). */
  readonly largeBase64: readonly Base64Body[];
}

/**
 * The body of a part that is sure to be an attachment (not text/*, not message/*, inside a
 * multipart), base64, checked by checkBase64, at least NATIVE_BASE64_MIN bytes long, with
 * '=' only at its end. Node's decoder reads such a body exactly as mailparser's
 * (libbase64: it skips whitespace; they differ only where '=' stands inside), ten times
 * faster; mailparser's splitter and decoder were half of converting a 1 MB attachment.
 */
export interface Base64Body {
  /** mailparser's partId. */
  readonly path: string;
  readonly start: number;
  readonly end: number;
}

/**
 * Where the body of a part mailparser may render as text or HTML lies (textBodies), and how
 * it is encoded. `end` includes the line break before the next delimiter line.
 */
export interface TextBody {
  readonly start: number;
  end: number;
  /** Content-Transfer-Encoding, lower-cased ('' when absent). */
  readonly cte: string;
  /** The charset parameter as written, '' when absent. */
  readonly charset: string;
}

/** Below this, decoding apart saves less than copying the rest of the message costs. */
export const NATIVE_BASE64_MIN = 16 * 1024;

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;
const DASH = 0x2d;
const NL_DASHES = Buffer.from('\n--');

const TRANSFER_ENCODINGS = new Set(['', '7bit', '8bit', 'binary', 'base64', 'quoted-printable']);
// the names mailparser refuses to decode from (it would pass the bytes through as UTF-8)
const UTF7 = /^(?:(?:cs)?unicode11)?utf7(?:imap)?$/;

interface Multipart {
  readonly boundary: Buffer;
  readonly path: string;
  readonly type: string;
  readonly alternative: boolean;
  children: number;
  /** For an alternative: a text/plain, text/html or multipart child was seen. */
  hasBody: boolean;
  /** For an alternative: paths and types of its other text/* renderings. */
  readonly renderings: [string, string][];
}

export function prescan(raw: Buffer, limits: ScanLimits): ScanResult {
  return new Scanner(raw, limits).run();
}

/**
 * The bodies of every part mailparser may render as text or HTML (text/plain, text/html,
 * message/delivery-status, unless an attachment): a superset of them, from a second scan.
 * Only for the rare message whose converted body holds a U+FFFD (convert.ts), so the
 * prescan itself collects nothing.
 */
export function textBodies(raw: Buffer, limits: ScanLimits): TextBody[] {
  const bodies: TextBody[] = [];
  new Scanner(raw, limits, bodies).run();
  return bodies;
}

export function where(path: string): string {
  return path ? `part ${path}` : 'the message';
}

class Scanner {
  private readonly raw: Buffer;
  private readonly limits: ScanLimits;
  private readonly stack: Multipart[] = [];
  private parts = 1;
  private depth = 0;
  private inHead = true;
  private headStart = 0;
  /** Dotted path of the node being read ('' = top level), as mailparser numbers parts. */
  private path = '';
  /** Body start of the current leaf when it is base64 and must be checked, else -1. */
  private base64Start = -1;
  /** The current base64 leaf is sure to be an attachment (Base64Body). */
  private base64Attachment = false;
  private readonly largeBase64: Base64Body[] = [];
  private topHeaders: HeaderField[] = [];
  private topContentType: StructuredValue | undefined;
  private readonly charsets = new Set<string>();
  private textOutsideAlternative = false;
  private hasHtml = false;
  private readonly alternatives: Multipart[] = [];
  private topBodyStart = -1;
  /** Collects the text bodies (textBodies) when set; `openText` is the one being read. */
  private readonly textBodies: TextBody[] | undefined;
  private openText: TextBody | undefined;

  constructor(raw: Buffer, limits: ScanLimits, textBodies?: TextBody[]) {
    this.raw = raw;
    this.limits = limits;
    this.textBodies = textBodies;
  }

  run(): ScanResult {
    const raw = this.raw;
    const len = raw.length;
    let pos = 0;
    while (pos < len) {
      if (!this.inHead) {
        // In a body only delimiter lines matter: jump from line start to line start over
        // everything else with one native search instead of visiting each line.
        if (this.stack.length === 0) break;
        if (raw[pos] !== DASH || raw[pos + 1] !== DASH) {
          const next = raw.indexOf(NL_DASHES, pos);
          if (next === -1) break;
          pos = next + 1;
        }
      }
      let end: number;
      if (this.inHead) {
        // Header lines are short: a byte loop, not a native call per line. It stops one byte
        // past the header limit, which the check below then refuses.
        end = nextLineEnd(raw, pos, Math.min(len, this.headStart + this.limits.maxHeaderBytes + 1));
      } else {
        const nl = raw.indexOf(LF, pos);
        end = nl === -1 ? len : nl + 1;
      }
      if (this.stack.length > 0 && raw[pos] === DASH && raw[pos + 1] === DASH && this.delimiter(pos, end)) {
        pos = end;
        continue;
      }
      if (this.inHead) {
        if (end - this.headStart > this.limits.maxHeaderBytes) {
          throw tooComplex(`header block of ${where(this.path)} exceeds ${this.limits.maxHeaderBytes} bytes`);
        }
        if (
          (end - pos === 1 && raw[pos] === LF) ||
          (end - pos === 2 && raw[pos] === CR && raw[pos + 1] === LF)
        ) {
          this.endHead(pos, end);
        }
      }
      pos = end;
    }
    this.endNode(len);
    for (const m of this.stack) if (m.children === 0) throw noParts(m);
    return {
      headers: this.topHeaders,
      contentType: this.topContentType,
      bodyStart: this.topBodyStart,
      parts: this.parts,
      depth: this.depth,
      charsets: [...this.charsets],
      textBesideHtml: this.textOutsideAlternative && this.hasHtml,
      alternativeRenderings: new Map(this.alternatives.filter((m) => m.hasBody).flatMap((m) => m.renderings)),
      largeBase64: this.largeBase64,
    };
  }

  /** Handles the line at [pos, end) if it is a delimiter of an open multipart. */
  private delimiter(pos: number, end: number): boolean {
    const stack = this.stack;
    for (let k = stack.length - 1; k >= 0; k--) {
      const m = stack[k] as Multipart;
      const kind = matchDelimiter(this.raw, pos, end, m.boundary);
      if (kind === 0) continue;
      this.endNode(pos);
      // inner multiparts end here; one that never saw its own boundary lost its content
      for (let j = stack.length - 1; j > k; j--) {
        const inner = stack[j] as Multipart;
        if (inner.children === 0) throw noParts(inner);
      }
      stack.length = k + 1;
      if (kind === 2) {
        if (m.children === 0) throw noParts(m);
        stack.length = k; // what follows is epilogue, ignored like the preamble
        this.path = m.path;
        return true;
      }
      m.children++;
      if (++this.parts > this.limits.maxParts) {
        throw tooComplex(`more than ${this.limits.maxParts} MIME parts`);
      }
      this.path = m.path ? `${m.path}.${m.children}` : String(m.children);
      this.inHead = true;
      this.headStart = end;
      return true;
    }
    return false;
  }

  /** The current node ends at `pos` (a delimiter line or the end of the message). */
  private endNode(pos: number): void {
    if (this.inHead) this.endHead(pos, pos);
    if (this.openText) {
      this.openText.end = pos;
      this.openText = undefined;
    }
    if (this.base64Start >= 0) {
      const problem = checkBase64(this.raw, this.base64Start, pos);
      if (problem) throw invalid(`${where(this.path)} is not valid base64 (${problem})`);
      if (
        this.base64Attachment &&
        pos - this.base64Start >= NATIVE_BASE64_MIN &&
        paddedAtEndOnly(this.raw, this.base64Start, pos)
      ) {
        this.largeBase64.push({ path: this.path, start: this.base64Start, end: pos });
      }
      this.base64Start = -1;
    }
  }

  private endHead(headEnd: number, bodyStart: number): void {
    this.inHead = false;
    const fields = splitFields(this.raw, this.headStart, headEnd);
    const top = this.path === '' && this.stack.length === 0;
    const ctField = firstField(fields, 'content-type');
    const ct = ctField ? parseStructured(fieldText(ctField.raw)) : undefined;
    if (top) {
      this.topHeaders = fields;
      this.topContentType = ct;
      // a header block that the end of the message ends, not an empty line: headEnd === bodyStart
      this.topBodyStart = bodyStart > headEnd ? bodyStart : -1;
    }
    const dispField = firstField(fields, 'content-disposition');
    const disposition = dispField ? parseStructured(fieldText(dispField.raw)).value : '';
    const type = ct?.value || (disposition === 'attachment' ? 'application/octet-stream' : 'text/plain');
    const inline = disposition === '' || disposition === 'inline';
    const parent = this.stack[this.stack.length - 1];
    if (parent?.alternative && inline) {
      if (type === 'text/plain' || type === 'text/html' || type.startsWith('multipart/'))
        parent.hasBody = true;
      else if (type.startsWith('text/') && type !== 'text/calendar')
        parent.renderings.push([this.path, type]);
    }

    if (type.startsWith('multipart/')) {
      const boundary = (ct?.params.get('boundary') ?? '').trimEnd();
      // mailparser treats a non-ASCII boundary as none, and a multipart without one keeps
      // its whole body as undisplayed preamble: content lost, so refused here
      if (!boundary || Buffer.byteLength(boundary) !== boundary.length) {
        throw invalid(`${where(this.path)} is ${type} without a usable boundary parameter`);
      }
      const multipart: Multipart = {
        boundary: Buffer.from(boundary, 'latin1'),
        path: this.path,
        type,
        alternative: type === 'multipart/alternative',
        children: 0,
        hasBody: false,
        renderings: [],
      };
      this.stack.push(multipart);
      if (multipart.alternative) this.alternatives.push(multipart);
      if (this.stack.length > this.limits.maxDepth) {
        throw tooComplex(`MIME parts nested deeper than ${this.limits.maxDepth} levels`);
      }
      if (this.stack.length > this.depth) this.depth = this.stack.length;
      return;
    }

    const cteField = firstField(fields, 'content-transfer-encoding');
    const cte = cteField
      ? fieldText(cteField.raw)
          .replace(/\([^)]*\)/g, '')
          .trim()
          .toLowerCase()
      : '';
    if (!TRANSFER_ENCODINGS.has(cte)) {
      throw invalid(
        `${where(this.path)} uses Content-Transfer-Encoding ${cte.slice(0, 40)}, which cannot be decoded`,
      );
    }
    if (cte === 'base64') {
      this.base64Start = bodyStart;
      this.base64Attachment = this.path !== '' && !type.startsWith('text/') && !type.startsWith('message/');
    }
    if (
      this.textBodies &&
      disposition !== 'attachment' &&
      (type === 'text/plain' || type === 'text/html' || type === 'message/delivery-status')
    ) {
      this.openText = { start: bodyStart, end: bodyStart, cte, charset: ct?.params.get('charset') ?? '' };
      this.textBodies.push(this.openText);
    }

    const isBody = inline && (type === 'text/plain' || type === 'text/html');
    if (!isBody) return;
    const charset = ct?.params.get('charset')?.trim().toLowerCase();
    if (charset) {
      if (UTF7.test(charset.replace(/[^a-z0-9]/g, ''))) {
        throw invalid(`${where(this.path)} is in charset ${charset}, which is not supported`);
      }
      if (this.charsets.size < 8) this.charsets.add(charset.slice(0, 40));
    }
    if (type === 'text/html') this.hasHtml = true;
    else if (!this.stack.some((m) => m.alternative)) this.textOutsideAlternative = true;
  }
}

/** 0: not a delimiter of `boundary`, 1: delimiter, 2: closing delimiter. */
function matchDelimiter(raw: Buffer, pos: number, end: number, boundary: Buffer): 0 | 1 | 2 {
  const bl = boundary.length;
  if (end - pos < bl + 2) return 0;
  let i = pos + 2;
  for (let j = 0; j < bl; j++) if (raw[i + j] !== boundary[j]) return 0;
  i += bl;
  let kind: 1 | 2 = 1;
  if (raw[i] === DASH && i < end) {
    if (raw[i + 1] !== DASH || i + 1 >= end) return 0;
    kind = 2;
    i += 2;
  }
  while (i < end && (raw[i] === SP || raw[i] === HT)) i++;
  while (i < end && raw[i] === CR) i++;
  if (i < end && raw[i] === LF) i++;
  return i === end ? kind : 0;
}

function noParts(m: Multipart): SmtpReplyError {
  return invalid(`${where(m.path)} is ${m.type} but its boundary never appears, so it has no parts`);
}

function tooComplex(detail: string): SmtpReplyError {
  return new SmtpReplyError('mimeTooComplex', { detail });
}

function invalid(detail: string): SmtpReplyError {
  return new SmtpReplyError('mimeInvalid', { detail });
}
