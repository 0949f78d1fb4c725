/**
 * End-to-end harness: a sandbox Cakemail API started in the test process (so faults,
 * counters and the outbox are at hand) and the REAL gateway (primary + workers, real
 * Cakemail side) pointed at it. Plus small SMTP helpers that send exact bytes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startSandbox,
  type OutboxEntry,
  type Sandbox,
  type SandboxOptions,
} from '../../src/sandbox/server.ts';
import { startGateway, type RunningGateway } from './gateway.ts';
import { sample } from './metrics.ts';
import { SmtpTestClient, type Reply } from './smtp-client.ts';

export const USERS_FIXTURE = new URL('../fixtures/sandbox-users.json', import.meta.url).pathname;
export const DEMO = { user: 'demo@cakemail.test', pass: 'demo-password', senderId: 'snd-1001-demo' } as const;

/**
 * Fast retries so fault tests end in well under a second per message. The deadline is
 * generous on purpose: on a loaded machine it must not cut the attempt count short.
 */
export const FAST_DELIVERY: Record<string, string> = {
  DELIVERY_DEADLINE_MS: '15000',
  DELIVERY_MAX_ATTEMPTS: '3',
  DELIVERY_RETRY_BASE_MS: '5',
  CAKEMAIL_TIMEOUT_MS: '3000',
  BREAKER_FAILURE_THRESHOLD: '10000',
};

export interface E2E {
  sb: Sandbox;
  gw: RunningGateway;
  /** Between tests: no fault, empty outbox, zeroed counters. */
  reset(): void;
  stop(): Promise<void>;
}

export async function startE2E(
  opts: { env?: Record<string, string>; sandbox?: Partial<SandboxOptions> } = {},
): Promise<E2E> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-e2e-'));
  const sb = await startSandbox({
    dataDir: join(dir, 'sandbox'),
    usersFile: USERS_FIXTURE,
    writeOutbox: false,
    ...opts.sandbox,
  });
  let gw: RunningGateway;
  try {
    gw = await startGateway({
      testMailSide: false,
      env: {
        DATA_DIR: dir,
        CAKEMAIL_API_URL: sb.url,
        // /metrics skips workers slower than this: a loaded machine must not lose samples.
        METRICS_WORKER_TIMEOUT_MS: '10000',
        ...FAST_DELIVERY,
        ...opts.env,
      },
    });
  } catch (err) {
    await sb.close();
    throw err;
  }
  return {
    sb,
    gw,
    reset() {
      sb.setFaults(null);
      sb.clearOutbox();
      sb.resetStats();
    },
    async stop() {
      await gw.stop();
      await sb.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `cond` until it holds or the deadline passes: waiting on a condition, never a fixed sleep. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Waits until the outbox holds exactly `n` entries (and fails if it holds more). */
export async function outboxOf(sb: Sandbox, n: number, timeoutMs = 10_000): Promise<OutboxEntry[]> {
  await until(() => sb.outbox().length >= n, `${n} outbox entries (have ${sb.outbox().length})`, timeoutMs);
  const entries = sb.outbox();
  assert.equal(entries.length, n, `outbox: ${JSON.stringify(entries.map((e) => e.request))}`);
  return entries;
}

/** The request body of an outbox entry, typed loosely for assertions. */
export function req(e: OutboxEntry): Record<string, unknown> & {
  email: string;
  sender: { id: string; name?: string };
  content: Record<string, unknown>;
} {
  return e.request as never;
}

/** A loopback URL where nothing listens (a port that was free a moment ago). */
export async function deadUrl(): Promise<string> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

/** One sample of the gateway's aggregated /metrics (0 when the series does not exist yet). */
export async function metricValue(gw: RunningGateway, name: string, labels: Record<string, string> = {}) {
  const res = await gw.http('/metrics');
  assert.equal(res.status, 200);
  return sample(res.body, name, labels) ?? 0;
}

/** Connects, STARTTLS, AUTH PLAIN; asserts 235 unless `expectAuth` says otherwise. */
export async function authedClient(port: number, user: string = DEMO.user, pass: string = DEMO.pass) {
  const { client, banner } = await SmtpTestClient.connect(port);
  assert.equal(banner.code, 220, banner.text);
  const auth = await client.login(user, pass);
  assert.equal(auth.code, 235, auth.text);
  return client;
}

/** MAIL/RCPT/DATA with exact message bytes (dot-stuffed here); returns the reply to the final dot. */
export async function sendBytes(
  client: SmtpTestClient,
  from: string,
  rcpts: readonly string[],
  raw: Buffer | string,
): Promise<Reply> {
  const mail = await client.command(`MAIL FROM:<${from}>`);
  if (mail.code !== 250) return mail;
  for (const r of rcpts) {
    const rr = await client.command(`RCPT TO:<${r}>`);
    if (rr.code !== 250) return rr;
  }
  const data = await client.command('DATA');
  if (data.code !== 354) return data;
  let bytes = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
  // Dot-stuffing works on bytes: a line starting with '.' gets one more.
  bytes = Buffer.from(bytes.toString('latin1').replace(/(^|\r\n)\./g, '$1..'), 'latin1');
  const tail = bytes.subarray(-2).toString('latin1') === '\r\n' ? '.\r\n' : '\r\n.\r\n';
  client.write(Buffer.concat([bytes, Buffer.from(tail)]));
  return client.read();
}

/** One whole session: connect, AUTH as the demo user, send, QUIT. */
export async function sendOnce(
  port: number,
  rcpts: readonly string[],
  raw: Buffer | string,
  opts: { from?: string; user?: string; pass?: string; onAuthenticated?: () => void } = {},
): Promise<Reply> {
  const client = await authedClient(port, opts.user, opts.pass);
  opts.onAuthenticated?.();
  try {
    return await sendBytes(client, opts.from ?? DEMO.user, rcpts, raw);
  } finally {
    client.end();
  }
}

/** Header lines + blank line + body, CRLF; strings as UTF-8, Buffers as they are. */
export function mime(headers: readonly string[], body: Buffer | string): Buffer {
  const head = Buffer.from(headers.map((h) => `${h}\r\n`).join('') + '\r\n', 'utf8');
  return Buffer.concat([head, typeof body === 'string' ? Buffer.from(body, 'utf8') : body]);
}

/** Asserts a reply's code, enhanced code and exact text of a table entry. */
export function assertReply(reply: Reply, expectedLine: string) {
  assert.equal(reply.lines.at(-1)?.replace(/^(\d{3})[ -]/, '$1 '), expectedLine, reply.text);
}
