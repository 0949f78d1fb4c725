/**
 * THE union of every message between the primary and its SMTP workers. Nothing else
 * crosses `process.send`. Each side handles its half in one exhaustive `switch`.
 *
 *   primary → worker: init, tls.update, shutdown, ledger.replicate, lockout.started,
 *                     request(metrics), response
 *   worker → primary: ready, request(admission, limits, ledger, worker.leaving), notify
 *                     (connection.closed, ledger.recorded, metrics.final, metrics.snapshot),
 *                     response
 *
 * Request/response pairs are typed by `RequestMap` (src/ipc/channel.ts adds ids,
 * timeouts and the pending map).
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { Config } from '../config/schema.ts';

/** 3: init and tls.update carry the TLS session ticket keys; worker.leaving. */
export const IPC_PROTOCOL = 3;

export interface TlsMaterial {
  readonly key: string;
  readonly cert: string;
}

/**
 * How a worker keeps the delivery ledger (src/smtp/replicated-ledger.ts):
 * - replicated: the pod's ledger lives in the primary's memory; every worker holds a
 *   replica (seeded at init, fed by `ledger.replicate`) and looks keys up locally, so a
 *   message costs no IPC round trip. Records go to the primary batched, once per tick.
 * - primary: the store is Redis (fleet-wide); every lookup asks the primary.
 */
export type LedgerInit =
  | {
      mode: 'replicated';
      entries: Array<[key: string, expiresAt: number]>;
      /**
       * 'memory': the keys are in memoryLedgerKey's form (src/delivery/ledger.ts), as the
       * primary keeps them; absent: wire keys (a primary from before that form).
       */
      keys?: 'memory';
    }
  | { mode: 'primary' };

/**
 * How a worker learns of AUTH lockouts:
 * - local: the pod's lockouts live in the primary's memory; the worker holds the active
 *   ones (seeded at init, fed by `lockout.started`) and checks AUTH without asking.
 * - primary: the store is Redis (other pods lock out too); every AUTH asks the primary.
 */
export type LockoutInit = { mode: 'local'; active: Array<[ip: string, until: number]> } | { mode: 'primary' };

/** What the primary seeds a new worker with, besides its config. */
export interface PodStateInit {
  ledger: LedgerInit;
  lockouts: LockoutInit;
}

export type AdmissionVerdict = 'ok' | 'pod_limit' | 'ip_limit' | 'locked_out' | 'draining';

/** Requests a worker sends to the primary (pod-wide state) and what comes back. */
export interface WorkerRequestMap {
  'connection.open': { req: { ip: string }; res: { verdict: AdmissionVerdict } };
  'rate.consume': { req: { ip: string }; res: { allowed: boolean } };
  'auth.failed': { req: { ip: string }; res: { lockedOut: boolean } };
  'lockout.check': { req: { ip: string }; res: { lockedOut: boolean } };
  'ledger.accepted': { req: { keys: string[] }; res: { keys: string[] } };
  'ledger.record': { req: { keys: string[]; ttlSeconds: number }; res: Record<string, never> };
  /**
   * Asked last by an exiting worker, its listener closed: the answer comes after every
   * connection node:cluster handed it before the primary saw the close (worker-main.ts).
   */
  'worker.leaving': { req: Record<string, never>; res: Record<string, never> };
}

/** Requests the primary sends to a worker. */
export interface PrimaryRequestMap {
  metrics: { req: Record<string, never>; res: { metrics: MetricObjectWithValues<MetricValue<string>>[] } };
}

export type WorkerRequestKind = keyof WorkerRequestMap;
export type PrimaryRequestKind = keyof PrimaryRequestMap;

type RequestOf<M, K extends keyof M> = M[K] extends { req: infer R } ? R : never;
type ResponseOf<M, K extends keyof M> = M[K] extends { res: infer R } ? R : never;

export type WorkerRequest = {
  [K in WorkerRequestKind]: { type: 'request'; id: number; kind: K; body: RequestOf<WorkerRequestMap, K> };
}[WorkerRequestKind];
export type PrimaryRequest = {
  [K in PrimaryRequestKind]: { type: 'request'; id: number; kind: K; body: RequestOf<PrimaryRequestMap, K> };
}[PrimaryRequestKind];

export type WorkerRequestBody<K extends WorkerRequestKind> = RequestOf<WorkerRequestMap, K>;
export type WorkerResponseBody<K extends WorkerRequestKind> = ResponseOf<WorkerRequestMap, K>;
export type PrimaryRequestBody<K extends PrimaryRequestKind> = RequestOf<PrimaryRequestMap, K>;
export type PrimaryResponseBody<K extends PrimaryRequestKind> = ResponseOf<PrimaryRequestMap, K>;

export interface ResponseMessage {
  type: 'response';
  id: number;
  ok: boolean;
  body?: unknown;
  error?: string;
}

/** Everything the primary sends. */
export type PrimaryToWorker =
  | {
      type: 'init';
      protocol: typeof IPC_PROTOCOL;
      slot: number;
      generation: number;
      config: Config;
      tls: TlsMaterial;
      /** TLS session ticket keys (48 bytes, base64), the same in every worker: src/primary/ticket-keys.ts. */
      ticketKeys: string;
      /** Key of the credential HMAC, identical in every worker so caches agree. */
      authKey: string;
      ledger: LedgerInit;
      lockouts: LockoutInit;
    }
  /** Keys another worker recorded (replicated ledger mode). */
  | { type: 'ledger.replicate'; keys: string[]; ttlSeconds: number }
  /** An IP reached the AUTH failure threshold (epoch ms it is locked out until). */
  | { type: 'lockout.started'; ip: string; until: number }
  /** A new certificate, or new ticket keys: the worker's TLS context is rebuilt from both. */
  | { type: 'tls.update'; tls: TlsMaterial; ticketKeys: string }
  | { type: 'shutdown'; reason: 'stop' | 'rolling' }
  | PrimaryRequest
  | ResponseMessage;

/** Everything a worker sends. */
export type WorkerToPrimary =
  | { type: 'ready'; slot: number; port: number }
  /** Connections closed since the last batch, one address each (session-hooks.ts). */
  | { type: 'connection.closed'; ips: string[] }
  /** Keys Cakemail accepted, batched per tick (replicated ledger mode). */
  | { type: 'ledger.recorded'; keys: string[]; ttlSeconds: number }
  /** Sent once by an exiting worker: its final counts, so totals stay exact across restarts. */
  | { type: 'metrics.final'; metrics: MetricObjectWithValues<MetricValue<string>>[] }
  /** The worker's numbers, sent every METRICS_MAX_STALENESS_MS / 2 (a scrape need not wait for a busy worker). */
  | { type: 'metrics.snapshot'; metrics: MetricObjectWithValues<MetricValue<string>>[] }
  | WorkerRequest
  | ResponseMessage;

export function isIpcMessage(value: unknown): value is { type: string } {
  return (
    typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string'
  );
}
