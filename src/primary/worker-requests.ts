/**
 * The primary's half of the IPC protocol: answers what workers ask about pod-wide
 * state. One exhaustive switch over the union; every branch is O(1) on the primary's
 * event loop (the store may be Redis, which is awaited, never blocked on).
 */
import type { Config } from '../config/schema.ts';
import { respond, safeSend } from '../ipc/channel.ts';
import type { PrimaryToWorker, WorkerRequest, WorkerResponseBody, WorkerToPrimary } from '../ipc/messages.ts';
import type { Logger } from '../log.ts';
import { podConnections, rateLimitedTotal } from '../metrics/primary-metrics.ts';
import type { ConnectionTable } from './admission.ts';
import type { SharedStore } from './pod-state/store.ts';
import type { LiveWorker } from './supervisor.ts';

export interface PodStateDeps {
  config: Config;
  table: ConnectionTable;
  store: SharedStore;
  isTrusted(ip: string): boolean;
  /** Every live worker (replicated ledger: records are forwarded to the others). */
  peers(): Iterable<LiveWorker>;
  /** A worker's latest counts: sent periodically, and once more when it exits (kept by the metrics aggregator). */
  workerMetrics(
    workerId: number,
    metrics: Extract<WorkerToPrimary, { type: 'metrics.final' }>['metrics'],
  ): void;
  log: Logger;
}

export function handleWorkerMessage(deps: PodStateDeps, from: LiveWorker, message: WorkerToPrimary): void {
  switch (message.type) {
    case 'connection.closed':
      for (const ip of message.ips) deps.table.close(from.worker.id, ip);
      podConnections.set(deps.table.total);
      return;
    case 'ledger.recorded': {
      // Authoritative copy here (it seeds new workers), then every other worker's replica.
      void deps.store.ledgerRecord(message.keys, message.ttlSeconds).catch(() => undefined);
      const forward: PrimaryToWorker = {
        type: 'ledger.replicate',
        keys: message.keys,
        ttlSeconds: message.ttlSeconds,
      };
      for (const peer of deps.peers()) if (peer !== from) safeSend(peer.worker, forward);
      return;
    }
    case 'request':
      respond(from.worker, message.id, answer(deps, from, message));
      return;
    case 'metrics.final':
    case 'metrics.snapshot':
      deps.workerMetrics(from.worker.id, message.metrics);
      return;
    case 'ready':
    case 'response':
      return; // handled by the supervisor
    default:
      assertNever(message);
  }
}

async function answer(deps: PodStateDeps, from: LiveWorker, request: WorkerRequest): Promise<unknown> {
  const { config, table, store, isTrusted } = deps;
  switch (request.kind) {
    case 'connection.open': {
      const { ip } = request.body;
      const lockedOut = !isTrusted(ip) && config.AUTH_LOCKOUT_THRESHOLD > 0 && (await store.isLockedOut(ip));
      // The worker died while the store answered (Redis is awaited), or before its request
      // was read: its connections were all released at its exit (table.releaseWorker), so
      // one counted now under its id would never be. Nobody is left to read the answer.
      if (from.worker.isDead())
        return { verdict: 'draining' } satisfies WorkerResponseBody<'connection.open'>;
      const verdict = table.open(from.worker.id, ip, lockedOut);
      podConnections.set(table.total);
      return { verdict } satisfies WorkerResponseBody<'connection.open'>;
    }
    case 'rate.consume': {
      const { ip } = request.body;
      if (config.RATE_LIMIT_PER_IP === 0 || isTrusted(ip)) return { allowed: true };
      const allowed = await store.consumeRate(ip, config.RATE_LIMIT_PER_IP);
      if (!allowed) rateLimitedTotal.inc();
      return { allowed } satisfies WorkerResponseBody<'rate.consume'>;
    }
    case 'auth.failed': {
      const { ip } = request.body;
      if (isTrusted(ip) || config.AUTH_LOCKOUT_THRESHOLD === 0) return { lockedOut: false };
      return { lockedOut: await store.recordAuthFailure(ip) } satisfies WorkerResponseBody<'auth.failed'>;
    }
    case 'lockout.check': {
      const { ip } = request.body;
      if (isTrusted(ip) || config.AUTH_LOCKOUT_THRESHOLD === 0) return { lockedOut: false };
      return { lockedOut: await store.isLockedOut(ip) } satisfies WorkerResponseBody<'lockout.check'>;
    }
    case 'ledger.accepted':
      return {
        keys: await store.ledgerAccepted(request.body.keys),
      } satisfies WorkerResponseBody<'ledger.accepted'>;
    case 'ledger.record':
      await store.ledgerRecord(request.body.keys, request.body.ttlSeconds);
      return {} satisfies WorkerResponseBody<'ledger.record'>;
    case 'worker.leaving':
      return {} satisfies WorkerResponseBody<'worker.leaving'>;
    default:
      return assertNever(request);
  }
}

export function assertNever(value: never): never {
  throw new Error(`unhandled IPC message ${JSON.stringify(value)}`);
}
