/**
 * Small HTTP helpers of the sandbox: handlers return a Reply value instead of writing to
 * the response, so the fault layer can answer it, replace it or drop it.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Loc } from './schema-validator.ts';

export interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  /** Close the connection after answering (e.g. the body was not read to its end). */
  close?: boolean;
}

export class BodyTooLargeError extends Error {
  constructor(limit: number) {
    super(`request body larger than ${limit} bytes`);
  }
}

/** Reads the whole body, refusing past `limit` bytes (Content-Length or streamed). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) return Promise.reject(new BodyTooLargeError(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onAborted = () => onError(new Error('request aborted'));
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onClose = () => {
      if (!req.complete) onAborted();
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

export function send(res: ServerResponse, reply: Reply): void {
  if (res.headersSent || res.destroyed) return;
  const payload = reply.body === undefined ? '' : JSON.stringify(reply.body);
  // writeHead with a flat [name, value, ...] list: no per-header setHeader bookkeeping
  // (this is every answer of the benchmarks' upstream, whose CPU shares the gateway's cores).
  const headers = ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(payload))];
  if (reply.close) headers.push('connection', 'close');
  if (reply.headers) for (const k in reply.headers) headers.push(k, reply.headers[k] as string);
  res.writeHead(reply.status, headers);
  res.end(payload);
}

export function json(status: number, body: unknown, headers?: Record<string, string>): Reply {
  return headers === undefined ? { status, body } : { status, body, headers };
}

const DEFAULT_TYPES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'request_entity_too_large',
  422: 'value_error',
  429: 'too_many_requests',
};

/** FastAPI-shaped error: `{"detail": [{msg, type[, loc]}]}`. */
export function errorReply(status: number, msg: string, type?: string, loc?: Loc): Reply {
  const item: Record<string, unknown> = {};
  if (loc !== undefined) item.loc = loc;
  item.msg = msg;
  item.type = type ?? DEFAULT_TYPES[status] ?? (status >= 500 ? 'server_error' : 'error');
  const headers: Record<string, string> | undefined =
    status === 401 ? { 'www-authenticate': 'Bearer' } : undefined;
  return json(status, { detail: [item] }, headers);
}

/** The answer of an injected `status` fault: what Cakemail's edge plausibly says for it. */
export function faultReply(status: number): Reply {
  const text = STATUS_CODES[status] ?? 'Error';
  // FastAPI's own handlers answer plain string details for 5xx; keep both shapes in play.
  if (status >= 500) return json(status, { detail: text });
  return errorReply(status, text);
}
