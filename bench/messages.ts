/**
 * The benchmark messages: a plain-text message of a given size, or a multipart/mixed
 * message with a text part and a base64 application/pdf attachment. The body is built
 * once; each message gets its own header block (Subject and Message-ID carry a counter)
 * because the gateway skips a message whose content digest it already delivered to
 * that recipient — identical messages would measure the duplicate path, not delivery.
 */
import { randomBytes } from 'node:crypto';

export interface MessageShape {
  /** Approximate total size in bytes. */
  bytes: number;
  /** Attach a PDF (multipart/mixed) instead of a plain-text body. */
  pdf: boolean;
  from: string;
  to: readonly string[];
}

export interface MessageTemplate {
  /** Header block for message number n (ends with the blank line). */
  head(n: number): Buffer;
  /** Static body, dot-safe, ending with CRLF. */
  body: Buffer;
}

const WORDS =
  'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore'.split(
    ' ',
  );

/** Text lines of at most 76 characters, never starting with a dot, about `bytes` long. */
function textLines(bytes: number): string {
  const lines: string[] = [];
  let size = 0;
  let i = 0;
  while (size < bytes) {
    let line = '';
    while (line.length < 70) line += (line ? ' ' : '') + WORDS[i++ % WORDS.length];
    lines.push(line);
    size += line.length + 2;
  }
  return lines.join('\r\n') + '\r\n';
}

/** A small but well-formed PDF whose content stream is padded to `bytes` with binary noise. */
export function fakePdf(bytes: number): Buffer {
  const noise = randomBytes(Math.max(0, bytes - 400));
  const head = Buffer.from(
    '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n' +
      '2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n' +
      '3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >> endobj\n' +
      `4 0 obj << /Length ${noise.length} >> stream\n`,
    'latin1',
  );
  const tail = Buffer.from('\nendstream endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n', 'latin1');
  return Buffer.concat([head, noise, tail]);
}

function base64Lines(data: Buffer): string {
  const b64 = data.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  return lines.join('\r\n') + '\r\n';
}

export function messageTemplate(shape: MessageShape, tag: string): MessageTemplate {
  const boundary = `bench-${randomBytes(8).toString('hex')}`;
  let contentHeaders: string;
  let body: string;
  if (!shape.pdf) {
    contentHeaders = 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n';
    body = textLines(Math.max(64, shape.bytes - 400));
  } else {
    // base64 grows the PDF by 4/3 plus line ends: size the PDF so the message is ~bytes.
    const pdfBytes = Math.floor(((shape.bytes - 2000) * 3) / 4 / (78 / 76));
    contentHeaders = `Content-Type: multipart/mixed; boundary="${boundary}"\r\n`;
    body =
      'This is a multi-part message in MIME format.\r\n' +
      `--${boundary}\r\n` +
      'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n' +
      textLines(1000) +
      `--${boundary}\r\n` +
      'Content-Type: application/pdf; name="report.pdf"\r\n' +
      'Content-Disposition: attachment; filename="report.pdf"\r\n' +
      'Content-Transfer-Encoding: base64\r\n\r\n' +
      base64Lines(fakePdf(pdfBytes)) +
      `--${boundary}--\r\n`;
  }
  const fixed =
    `From: Bench <${shape.from}>\r\n` +
    `To: ${shape.to.map((t) => `<${t}>`).join(', ')}\r\n` +
    'Date: Tue, 25 Nov 2025 12:00:00 +0000\r\n' +
    'MIME-Version: 1.0\r\n' +
    contentHeaders;
  return {
    head: (n) =>
      Buffer.from(`Subject: bench ${tag} #${n}\r\nMessage-ID: <${n}.${tag}@bench.local>\r\n${fixed}\r\n`),
    body: Buffer.from(body, 'latin1'),
  };
}
