/**
 * Builders for src/mail tests: fixture files (stored with LF, delivered with CRLF as the
 * SMTP layer hands them over), messages assembled from exact bytes, default options, and
 * an assertion that a conversion was refused with a given reply.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { ConvertOptions } from '../../src/mail/convert.ts';
import { SmtpReplyError, type ReplyKey } from '../../src/smtp/replies.ts';

export const OPTS: ConvertOptions = {
  defaultType: 'transactional',
  maxDepth: 20,
  maxParts: 200,
  maxHeaderBytes: 256 * 1024,
  hostname: 'gw.example.test',
};

const FIXTURES = new URL('../fixtures/mime/', import.meta.url);

/** A fixture from test/fixtures/mime with CRLF line endings. */
export function fixture(name: string): Buffer {
  return crlf(readFileSync(new URL(name, FIXTURES)));
}

/** LF line endings to CRLF, bytes untouched otherwise. */
export function crlf(input: Buffer | string): Buffer {
  const buf = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const out: number[] = [];
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i] as number;
    if (b === 0x0a && buf[i - 1] !== 0x0d) out.push(0x0d);
    out.push(b);
  }
  return Buffer.from(out);
}

/** Joins header lines, a blank line and a body (strings as latin1, Buffers as is) with CRLF. */
export function message(headers: readonly string[], body: Buffer | string = 'Body text.\r\n'): Buffer {
  const head = Buffer.from(headers.map((h) => `${h}\r\n`).join('') + '\r\n', 'latin1');
  return Buffer.concat([head, typeof body === 'string' ? Buffer.from(body, 'latin1') : body]);
}

/** Awaits a refusal and checks its reply key (and that the text mentions `mentions`). */
export async function assertRefused(
  promise: Promise<unknown>,
  key: ReplyKey,
  mentions?: string | RegExp,
): Promise<SmtpReplyError> {
  let error: unknown;
  try {
    await promise;
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof SmtpReplyError, `expected SmtpReplyError ${key}, got ${String(error)}`);
  assert.equal(error.key, key, error.message);
  if (typeof mentions === 'string') assert.ok(error.message.includes(mentions), error.message);
  else if (mentions) assert.match(error.message, mentions);
  return error;
}
