/**
 * Whether a U+FFFD in the converted subject or body stands for bytes that were not valid in
 * their charset (then the text is not what the sender wrote: refused) or is a U+FFFD the
 * sender wrote (EF BF BD in UTF-8, as in text copied from a system that lost a character
 * once: kept as it is). The decoded text cannot tell the two apart, the bytes can: these
 * checks decode the same bytes mailparser (or the fast path) decoded, with the same libraries,
 * and look at them before the charset is applied.
 *
 * They run only when the converted text holds a U+FFFD, which is rare, so their cost (a
 * second prescan, the text parts decoded again) is paid by those messages alone.
 */
import { isUtf8 } from 'node:buffer';
import { createRequire } from 'node:module';
import libmime from 'libmime';
import type { HeaderField } from './header-fields.ts';
import { type ScanLimits, textBodies } from './limits.ts';

// The transfer decoders of mailparser's splitter (@zone-eu/mailsplit), resolved from it.
const splitterRequire = createRequire(
  createRequire(createRequire(import.meta.url).resolve('mailparser')).resolve('@zone-eu/mailsplit'),
);
const libbase64 = splitterRequire('libbase64') as { decode(input: string): Buffer };
const libqp = splitterRequire('libqp') as { decode(input: Buffer): Buffer };

/** Charset names mailparser reads as UTF-8 itself (the rest go through libmime's decoders). */
const UTF8_NAMES = new Set(['ascii', 'usascii', 'utf8']);

/**
 * A decoded text holds a U+FFFD that no EF BF BD of valid UTF-8 stands for: the bytes were
 * not valid UTF-8, or a decoder for another charset met bytes it has no character for.
 */
function replacedBytes(bytes: Buffer, text: string): boolean {
  return text.includes('\uFFFD') && !(isUtf8(bytes) && bytes.toString('utf8') === text);
}

/** libmime that records whether an encoded word it decodes had invalid bytes. */
class WordCheck extends libmime.Libmime {
  invalid = false;

  override decodeWord(charset: string, encoding: string, str: string): string {
    const text = super.decodeWord(charset, encoding, str);
    if (!this.invalid && text.includes('\uFFFD')) {
      // The same B or Q decoding, to bytes ('binary' maps each byte to one character).
      const bytes = Buffer.from(super.decodeWord('binary', encoding, str), 'latin1');
      this.invalid = replacedBytes(bytes, text);
    }
    return text;
  }
}

/**
 * A Subject field holds bytes that are not valid in their charset: raw bytes that are not
 * UTF-8 (mailparser reads raw header bytes as UTF-8), or an encoded word whose bytes are not
 * valid in its charset. Every Subject field is checked, a superset of the one used.
 */
export function subjectHasInvalidBytes(headers: readonly HeaderField[]): boolean {
  for (const field of headers) {
    if (field.lname !== 'subject') continue;
    // mailparser's processHeaders: the unfolded value, its bytes read as UTF-8, decodeWords
    const value = String(libmime.decodeHeader(`Subject:${field.raw.toString('latin1')}`)?.value ?? '').trim();
    const bytes = Buffer.from(value, 'latin1');
    if (!isUtf8(bytes)) return true;
    const check = new WordCheck();
    try {
      check.decodeWords(bytes.toString('utf8'));
    } catch {
      // mailparser keeps the value as it is then: no encoded word was decoded
    }
    if (check.invalid) return true;
  }
  return false;
}

/**
 * A part mailparser may render as text or HTML holds bytes that are not valid in its charset
 * (after its transfer encoding is undone, as mailparser's splitter undoes it).
 */
export function bodyHasInvalidBytes(raw: Buffer, limits: ScanLimits): boolean {
  for (const part of textBodies(raw, limits)) {
    const encoded = raw.subarray(part.start, part.end);
    const bytes =
      part.cte === 'base64'
        ? libbase64.decode(encoded.toString('latin1'))
        : part.cte === 'quoted-printable'
          ? libqp.decode(encoded)
          : encoded;
    const charset = part.charset || 'utf-8';
    if (UTF8_NAMES.has(charset.toLowerCase().replace(/[^a-z0-9]+/g, ''))) {
      if (!isUtf8(bytes)) return true;
      continue;
    }
    // What mailparser's decode stream makes of them (libmime's charset decoders).
    if (replacedBytes(bytes, libmime.decodeWord(charset, 'B', bytes.toString('base64')))) return true;
  }
  return false;
}
