/**
 * A readable .eml rendering of an accepted SubmitEmail, for a person to open in a mail
 * client or a text editor: it is what Cakemail would have sent, roughly. Bodies stay
 * 8bit UTF-8 so the file reads as-is; attachments keep their base64.
 */
import type { SubmitEmail } from '../cakemail/types.ts';
import type { SandboxSender } from './users.ts';

const MIME_TYPES: Record<string, string> = {
  csv: 'text/csv',
  doc: 'application/msword',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  calendar: 'text/calendar',
  jpeg: 'image/jpeg',
  pdf: 'application/pdf',
  png: 'image/png',
  xls: 'application/vnd.ms-excel',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
};

/** RFC 2047 encoded-word when the value is not plain printable ASCII; strips CR/LF (no header injection). */
function headerValue(v: string): string {
  const flat = v.replace(/[\r\n]+/g, ' ');
  return /^[\x20-\x7e]*$/.test(flat) ? flat : `=?UTF-8?B?${Buffer.from(flat, 'utf8').toString('base64')}?=`;
}

function displayName(name: string): string {
  const v = headerValue(name);
  return v === name.replace(/[\r\n]+/g, ' ') ? `"${v.replace(/["\\]/g, '')}"` : v;
}

function wrap76(b64: string): string {
  return b64.replace(/(.{76})/g, '$1\r\n').replace(/\r\n$/, '');
}

function normalizeNewlines(s: string): string {
  return s.replace(/\r?\n/g, '\r\n');
}

export interface EmlInput {
  id: string;
  receivedAt: string;
  accountId: number;
  request: SubmitEmail;
  sender: SandboxSender | undefined;
}

export function renderEml({ id, receivedAt, accountId, request, sender }: EmlInput): string {
  const c = request.content;
  const fromName = request.sender.name ?? sender?.name;
  const fromAddr = sender?.email ?? 'unknown-sender@sandbox.invalid';
  const h: string[] = [
    `Message-ID: <${id}@sandbox.cakemail.test>`,
    `Date: ${new Date(receivedAt).toUTCString().replace('GMT', '+0000')}`,
    `From: ${fromName ? `${displayName(fromName)} ` : ''}<${fromAddr}>`,
    `To: <${request.email.replace(/[\r\n<>]/g, '')}>`,
    `Subject: ${headerValue(c.subject)}`,
    `X-Sandbox-Account-Id: ${accountId}`,
    `X-Sandbox-Sender-Id: ${headerValue(request.sender.id)}`,
    `X-Sandbox-Email-Type: ${c.type ?? ''}`,
  ];
  if (request.tags?.length) h.push(`X-Sandbox-Tags: ${headerValue(request.tags.join(','))}`);
  if (request.list_id !== undefined) h.push(`X-Sandbox-List-Id: ${request.list_id}`);
  for (const a of request.additional_headers ?? []) {
    if (/^[!-9;-~]+$/.test(a.name)) h.push(`${a.name}: ${headerValue(a.value)}`);
  }
  h.push('MIME-Version: 1.0');

  const parts: string[][] = [];
  if (c.text !== undefined) parts.push(textPart('text/plain', c.text));
  if (c.html !== undefined) parts.push(textPart('text/html', c.html));
  if (parts.length === 0)
    parts.push(textPart('text/plain', '(no text or html content: a template was requested)'));
  let body: string[] =
    parts.length === 1 ? (parts[0] as string[]) : multipart('alternative', `alt-${id}`, parts);

  const attachments = request.attachment === undefined ? [] : [request.attachment].flat();
  if (attachments.length > 0) {
    const atts = attachments.map((a) => [
      `Content-Type: ${MIME_TYPES[a.type] ?? 'application/octet-stream'}; name="${a.filename}"`,
      `Content-Disposition: attachment; filename="${a.filename}"`,
      'Content-Transfer-Encoding: base64',
      '',
      wrap76(a.content),
    ]);
    body = multipart('mixed', `mix-${id}`, [body, ...atts]);
  }
  return [...h, ...body].join('\r\n') + '\r\n';
}

function textPart(type: string, content: string): string[] {
  return [
    `Content-Type: ${type}; charset=utf-8`,
    'Content-Transfer-Encoding: 8bit',
    '',
    normalizeNewlines(content),
  ];
}

function multipart(subtype: string, boundary: string, parts: string[][]): string[] {
  const out = [`Content-Type: multipart/${subtype}; boundary="${boundary}"`, ''];
  for (const p of parts) out.push(`--${boundary}`, ...p);
  out.push(`--${boundary}--`);
  return out;
}
