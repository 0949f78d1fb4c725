/**
 * What the delivery pipeline tests share: a sandbox per suite and the Cakemail sides a test
 * opens on it, a small MIME message, and the checks that a delivery was refused with a given
 * reply of the table.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, beforeEach } from 'node:test';
import { createCakemailSide, type CakemailSide, type CakemailSideOptions } from '../../src/cakemail/index.ts';
import { MemoryLedger } from '../../src/delivery/ledger.ts';
import { REPLIES, SmtpReplyError, type ReplyKey } from '../../src/smtp/replies.ts';
import { silentLog, startTestSandbox, testConfig, type TestSandbox } from './cakemail-helpers.ts';

/**
 * Call inside a describe(): one sandbox for the suite (handed to `use` once started), with
 * no fault, zeroed counters and an empty outbox before each test. Returns a factory of
 * Cakemail sides on it (config from env strings), closed after the suite.
 */
export function sandboxSuite(use: (t: TestSandbox) => void) {
  let t: TestSandbox;
  const open: CakemailSide[] = [];
  before(async () => {
    t = await startTestSandbox();
    use(t);
  });
  after(async () => {
    await Promise.all(open.map((s) => s.close()));
    await t.stop();
  });
  beforeEach(() => {
    t.sb.setFaults(null);
    t.sb.resetStats();
    t.sb.clearOutbox();
  });
  return (
    env: Record<string, string> = {},
    opts: Partial<Pick<CakemailSideOptions, 'ledger' | 'claimAfterMs'>> = {},
  ): CakemailSide => {
    const side = createCakemailSide(testConfig(t.sb.url, env), {
      authKey: randomBytes(32),
      ledger: opts.ledger ?? new MemoryLedger(),
      log: silentLog,
      ...(opts.claimAfterMs === undefined ? {} : { claimAfterMs: opts.claimAfterMs }),
    });
    open.push(side);
    return side;
  };
}

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
