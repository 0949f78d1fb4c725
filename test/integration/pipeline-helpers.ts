/**
 * What the delivery pipeline tests share: a small MIME message, and the checks that a
 * delivery was refused with a given reply of the table.
 */
import assert from 'node:assert/strict';
import { REPLIES, SmtpReplyError, type ReplyKey } from '../../src/smtp/replies.ts';

/** A plain-text message (or the head above `extra`, a MIME body of the caller's). */
export function mime(
  opts: { from?: string; headers?: string[]; body?: string; extra?: string; anonymous?: boolean } = {},
): Buffer {
  const lines = [
    `From: ${opts.from ?? 'Demo <demo@cakemail.test>'}`,
    'To: someone@example.com',
    'Subject: Hello from the gateway',
    // `anonymous`: no Date, no Message-ID (a script's alert).
    ...(opts.anonymous ? [] : ['Message-ID: <fixed-1@test>', 'Date: Tue, 25 Nov 2025 10:00:00 +0000']),
    ...(opts.headers ?? []),
  ];
  if (opts.extra) return Buffer.from(`${lines.join('\r\n')}\r\n${opts.extra}`);
  lines.push('Content-Type: text/plain; charset=utf-8', '', opts.body ?? 'Hi there.', '');
  return Buffer.from(lines.join('\r\n'));
}

export async function refusal(p: Promise<unknown>): Promise<SmtpReplyError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof SmtpReplyError, `expected SmtpReplyError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a refusal');
}

export function assertReply(err: SmtpReplyError, key: ReplyKey, text?: RegExp) {
  assert.equal(err.key, key, err.message);
  assert.equal(err.responseCode, REPLIES[key].code);
  assert.ok(err.message.startsWith(REPLIES[key].enhanced));
  if (text) assert.match(err.message, text);
}
