/**
 * The sandbox upstream: a local emulator of the Cakemail API subset the gateway uses
 * (POST /token, GET /brands/default/senders, POST /v2/emails), validating what it
 * receives against Cakemail's own OpenAPI schemas, with fault injection and an outbox.
 * It is the embedded upstream of `npm start` without CAKEMAIL_API_URL, of the end-to-end
 * tests and of the benchmarks: plain node:http, keep-alive, nothing on the hot path that
 * a thousand requests per second would feel.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import pino from 'pino';
import type { Logger } from '../log.ts';
import { handleSenders, handleSubmit, type ApiDeps } from './api-emails.ts';
import { grantOf, handleToken, parseForm } from './api-token.ts';
import { CONTROL_PREFIX, handleControl, type ControlTarget, type SandboxStats } from './control.ts';
import { FaultState, type FaultDecision, type FaultEndpoint, type FaultSpec } from './faults.ts';
import { BodyTooLargeError, errorReply, faultReply, json, readBody, send, type Reply } from './http-util.ts';
import { Outbox, type OutboxEntry } from './outbox.ts';
import { getValidators } from './schema-validator.ts';
import { TokenService } from './tokens.ts';
import { loadDirectory } from './users.ts';

export type { FaultSpec } from './faults.ts';
export type { OutboxEntry } from './outbox.ts';
export type { SandboxStats } from './control.ts';
export { DEMO_USER } from './users.ts';

export interface SandboxOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** The outbox goes to <dataDir>/outbox. */
  dataDir: string;
  /** Users/senders JSON (format in users.ts); default the built-in demo data. */
  usersFile?: string;
  log?: Logger;
  /** Write <id>.json and <id>.eml per accepted email; default true. */
  writeOutbox?: boolean;
  /** Access-token lifetime when the client asks none; default 432000 (5 days). May be < 600 for tests. */
  tokenTtlSeconds?: number;
  /** Refresh-token lifetime (unpublished by Cakemail); default 30 days. */
  refreshTokenTtlSeconds?: number;
  /** Request body cap, answered 413; default 40 MiB. */
  maxBodyBytes?: number;
  /** Accepted emails kept in memory; default 10000. */
  outboxMemoryEntries?: number;
}

export interface Sandbox {
  url: string;
  port: number;
  setFaults(f: FaultSpec | null): void;
  /** The current fault spec (with what is left of `remaining`), or null. */
  getFaults(): FaultSpec | null;
  stats(): SandboxStats;
  resetStats(): void;
  outbox(): OutboxEntry[];
  clearOutbox(): void;
  /** Settles when every outbox file queued so far is on disk. */
  flushOutbox(): Promise<void>;
  close(): Promise<void>;
}

type Route = { kind: 'api'; endpoint: FaultEndpoint } | { kind: 'control' } | { kind: 'reply'; reply: Reply };

const ROUTES: Record<string, { method: string; endpoint: FaultEndpoint }> = {
  '/token': { method: 'POST', endpoint: 'token' },
  '/brands/default/senders': { method: 'GET', endpoint: 'senders' },
  '/v2/emails': { method: 'POST', endpoint: 'emails' },
};

function route(method: string, path: string): Route {
  if (path.startsWith(CONTROL_PREFIX)) return { kind: 'control' };
  const r = ROUTES[path];
  if (r === undefined) return { kind: 'reply', reply: json(404, { detail: 'Not Found' }) };
  if (r.method !== method)
    return { kind: 'reply', reply: json(405, { detail: 'Method Not Allowed' }, { allow: r.method }) };
  return { kind: 'api', endpoint: r.endpoint };
}

const zeroStats = (): SandboxStats => ({
  token: 0,
  refresh: 0,
  senders: 0,
  emails: 0,
  accepted: 0,
  rejectedInvalid: 0,
  faulted: 0,
});

export async function startSandbox(opts: SandboxOptions): Promise<Sandbox> {
  const log = opts.log ?? pino({ level: 'silent' });
  const tokenTtl = opts.tokenTtlSeconds ?? 432_000;
  if (!Number.isInteger(tokenTtl) || tokenTtl < 0) throw new Error('tokenTtlSeconds must be an integer >= 0');
  const maxBody = opts.maxBodyBytes ?? 40 * 1024 * 1024;
  const validators = getValidators();
  const directory = await loadDirectory(opts.usersFile);
  const tokens = new TokenService({ refreshTtlSeconds: opts.refreshTokenTtlSeconds ?? 30 * 86_400 });
  const outbox = new Outbox({
    dataDir: opts.dataDir,
    writeFiles: opts.writeOutbox ?? true,
    log,
    ...(opts.outboxMemoryEntries === undefined ? {} : { maxEntries: opts.outboxMemoryEntries }),
  });
  await outbox.init();
  const deps: ApiDeps = { directory, tokens, validators, outbox };
  const tokenDeps = { directory, tokens, validators, defaultTtlSeconds: tokenTtl };
  const faults = new FaultState();
  let counters = zeroStats();
  const closing = new AbortController();

  const control: ControlTarget = {
    getFaults: () => faults.get(),
    setFaults: (f) => {
      faults.set(f);
      log.info({ faults: faults.get() }, 'sandbox faults set');
    },
    stats: () => ({ ...counters }),
    resetStats: () => {
      counters = zeroStats();
    },
    outbox: () => outbox.list(),
    clearOutbox: () => outbox.clear(),
  };

  async function answerApi(
    endpoint: FaultEndpoint,
    req: IncomingMessage,
    res: ServerResponse,
    query: URLSearchParams,
  ) {
    const decision: FaultDecision | null = faults.decide(endpoint);
    if (endpoint === 'senders') counters.senders += 1;
    if (endpoint === 'emails') counters.emails += 1;
    if (decision?.action.kind === 'dropBefore') {
      if (endpoint === 'token') counters.token += 1;
      counters.faulted += 1;
      req.socket.destroy();
      return;
    }
    const body = await readBody(req, maxBody);
    let form: Record<string, unknown> | undefined;
    if (endpoint === 'token') {
      form = parseForm(body);
      if (grantOf(form) === 'refresh_token') counters.refresh += 1;
      else counters.token += 1;
    }
    if (decision !== null && decision.latencyMs > 0)
      await delay(decision.latencyMs, undefined, { signal: closing.signal });
    const action = decision?.action ?? { kind: 'none' };
    if (action.kind === 'status') {
      counters.faulted += 1;
      send(res, faultReply(action.status));
      return;
    }
    let reply: Reply;
    if (endpoint === 'emails') {
      const forced = action.kind === 'submitStatus' ? action.status : undefined;
      if (forced !== undefined) counters.faulted += 1;
      const r = await handleSubmit({ headers: req.headers, query, body }, deps, forced);
      if (r.accepted) counters.accepted += 1;
      if (r.invalid) counters.rejectedInvalid += 1;
      reply = r.reply;
    } else if (endpoint === 'senders') {
      reply = handleSenders({ headers: req.headers, query, body }, deps);
    } else {
      reply = handleToken(form ?? {}, tokenDeps);
    }
    if (action.kind === 'dropAfter') {
      // Processed (an email is in the outbox) but never answered: the ambiguous case.
      counters.faulted += 1;
      req.socket.destroy();
      return;
    }
    send(res, reply);
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : rawUrl.slice(q + 1));
    try {
      const r = route(method, path);
      if (r.kind === 'api') return await answerApi(r.endpoint, req, res, query);
      const body = await readBody(req, maxBody);
      if (r.kind === 'control') return send(res, handleControl(method, path, query, body, control));
      return send(res, r.reply);
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        return send(res, {
          ...errorReply(413, 'Request body too large', 'request_entity_too_large'),
          close: true,
        });
      }
      if (closing.signal.aborted || req.socket.destroyed) return;
      log.error({ err, method, path }, 'sandbox: request failed');
      send(res, { status: 500, body: { detail: 'Internal Server Error' }, close: true });
    }
  }

  const server = createServer(
    { keepAliveTimeout: 65_000, headersTimeout: 60_000, requestTimeout: 300_000 },
    (req, res) => {
      void onRequest(req, res);
    },
  );
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (err.code !== 'ECONNRESET' && socket.writable) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    } else {
      socket.destroy();
    }
  });

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info({ url, usersFile: opts.usersFile ?? 'built-in', outbox: outbox.dir }, 'sandbox listening');

  let closed: Promise<void> | undefined;
  return {
    url,
    port,
    setFaults: control.setFaults,
    getFaults: control.getFaults,
    stats: control.stats,
    resetStats: control.resetStats,
    outbox: control.outbox,
    clearOutbox: control.clearOutbox,
    flushOutbox: () => outbox.flush(),
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        closing.abort();
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(() => outbox.flush());
      return closed;
    },
  };
}
