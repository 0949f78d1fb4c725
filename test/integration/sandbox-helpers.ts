/**
 * Shared helpers of the sandbox integration tests (test/integration/sandbox*.test.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/sandbox/server.ts';
import { getValidators } from '../../src/sandbox/schema-validator.ts';

export const USERS_FIXTURE = new URL('../fixtures/sandbox-users.json', import.meta.url).pathname;

export interface TestSandbox {
  sb: Sandbox;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startTestSandbox(opts: Partial<SandboxOptions> = {}): Promise<TestSandbox> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sandbox-test-'));
  const sb = await startSandbox({ usersFile: USERS_FIXTURE, ...opts, dataDir });
  return {
    sb,
    dataDir,
    stop: async () => {
      await sb.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface JsonAnswer {
  status: number;
  headers: Headers;
  body: unknown;
}

export async function call(
  sb: Sandbox,
  method: string,
  path: string,
  opts: {
    token?: string;
    json?: unknown;
    form?: Record<string, string>;
    raw?: string;
    contentType?: string;
  } = {},
): Promise<JsonAnswer> {
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.form !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(opts.form).toString();
  } else if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.raw !== undefined) {
    headers['content-type'] = opts.contentType ?? 'application/json';
    body = opts.raw;
  }
  const res = await fetch(sb.url + path, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === '' ? undefined : JSON.parse(text) };
}

export interface Tokens {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  accounts: number[];
}

export async function login(
  sb: Sandbox,
  username = 'demo@cakemail.test',
  password = 'demo-password',
): Promise<Tokens> {
  const r = await call(sb, 'POST', '/token', { form: { grant_type: 'password', username, password } });
  if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as Tokens;
}

export function validEmail(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    email: 'rcpt@example.com',
    sender: { id: 'snd-1001-demo', name: 'Demo' },
    content: {
      subject: 'Hello',
      text: 'Hi there',
      html: '<p>Hi there</p>',
      type: 'transactional',
      encoding: 'utf-8',
    },
    ...overrides,
  };
}

/** Asserts `data` matches the named schema of openapi-subset.json; returns the Ajv errors otherwise. */
export function schemaErrors(name: string, data: unknown): string | null {
  const fn = getValidators().component(name);
  return fn(data) ? null : JSON.stringify(fn.errors);
}

/** A request over a fresh connection that reports a dropped socket instead of throwing. */
export function rawRequest(
  url: string,
  opts: { method: string; path: string; headers?: Record<string, string | number>; body?: string | Buffer },
): Promise<{ status: number; body: string } | { dropped: true; code: string }> {
  return new Promise((resolve) => {
    const req = httpRequest(
      url + opts.path,
      { method: opts.method, headers: opts.headers ?? {}, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', (err: NodeJS.ErrnoException) =>
          resolve({ dropped: true, code: err.code ?? err.message }),
        );
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) =>
      resolve({ dropped: true, code: err.code ?? err.message }),
    );
    req.end(opts.body);
  });
}

/** Polls `cond` until it is true or the deadline passes (no fixed sleeps). */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 20));
  }
}
