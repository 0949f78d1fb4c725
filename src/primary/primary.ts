/**
 * The primary process: owns the SMTP port through node:cluster, supervises the
 * workers, keeps pod-wide state, serves HTTP. It never touches a message.
 *
 * Start: config → TLS material → (sandbox) → shared store → workers → HTTP → "ready".
 * SIGTERM/SIGINT: readiness 503 at once → workers drain (DATA in flight completes,
 * new commands get 421) → exit 0. SIGHUP: reload TLS, rolling worker restart.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Config } from '../config/schema.ts';
import type { PrimaryResponseBody, PrimaryToWorker } from '../ipc/messages.ts';
import { safeSend } from '../ipc/channel.ts';
import type { Logger } from '../log.ts';
import {
  gatewayReady,
  tlsCertificateExpiry,
  tlsReloadsTotal,
  authLockoutsTotal,
  podConnections,
} from '../metrics/primary-metrics.ts';
import { ConnectionTable } from './admission.ts';
import { createHttpApp } from './http/app.ts';
import { MetricsAggregator } from './http/metrics-aggregator.ts';
import { MemoryStore } from './pod-state/memory-store.ts';
import type { SharedStore } from './pod-state/store.ts';
import { announceSandbox, startSandboxProcess, type SandboxProcess } from './sandbox-process.ts';
import { Supervisor } from './supervisor.ts';
import { TicketKeyRotation } from './ticket-keys.ts';
import { certificateNotAfter, loadTlsMaterial, tlsSource, watchTlsSource } from './tls-material.ts';
import { createTrustedNetworks } from './trusted-networks.ts';
import { handleWorkerMessage } from './worker-requests.ts';
import { mountStatusRoutes } from './http/status-routes.ts';
import { RecentEvents, recordingErrors } from './recent-events.ts';

export async function runPrimary(initialConfig: Config, log: Logger): Promise<void> {
  let config = initialConfig;
  const recentEvents = new RecentEvents(20);
  log = recordingErrors(log, recentEvents); // error/fatal lines also go to the status page
  await mkdir(config.DATA_DIR, { recursive: true });

  const source = tlsSource(config);
  let tls = await loadTlsMaterial(source, config.SMTP_HOSTNAME, log);
  tlsCertificateExpiry.set(certificateNotAfter(tls).getTime() / 1000);

  let sandbox: SandboxProcess | undefined;
  if (!config.CAKEMAIL_API_URL) {
    sandbox = await startSandboxProcess(config);
    config = Object.freeze({ ...config, CAKEMAIL_API_URL: sandbox.url });
  }

  const lockout = {
    threshold: config.AUTH_LOCKOUT_THRESHOLD,
    windowMs: config.AUTH_LOCKOUT_WINDOW * 1000,
    durationMs: config.AUTH_LOCKOUT_DURATION * 1000,
  };
  const memory = new MemoryStore(lockout, Date.now, config.DEDUP_MAX_ENTRIES);
  const onLockout = () => {
    authLockoutsTotal.inc();
    log.warn({ event: 'auth.lockout' }, 'client IP locked out after repeated AUTH failures');
  };
  memory.onLockout = (ip, until) => {
    // Workers check AUTH against their own copy of the pod's lockouts (memory store only:
    // with Redis, other pods lock out too, so workers ask). Sent before anything else
    // happens (the log line included), so no AUTH can overtake it. Called only from a
    // worker's request, once the supervisor exists.
    const started = { type: 'lockout.started', ip, until } satisfies PrimaryToWorker;
    for (const w of supervisor.liveWorkers()) safeSend(w.worker, started);
    onLockout();
  };
  // With REDIS_URL the limits are fleet-wide; the memory store stays as the fallback.
  // Loaded only with REDIS_URL: ioredis is ~7 MiB of RSS the memory store does not need.
  const redis = config.REDIS_URL
    ? new (await import('./pod-state/redis-store.ts')).RedisStore({
        url: config.REDIS_URL,
        lockout,
        fallback: memory,
        log,
      })
    : undefined;
  if (redis) redis.onLockout = onLockout;
  const store: SharedStore = redis ?? memory;
  const isTrusted = createTrustedNetworks(config.TRUSTED_NETWORKS);
  const table = new ConnectionTable({
    maxPerPod: config.MAX_CONNECTIONS_PER_POD,
    maxPerIp: config.MAX_CONNECTIONS_PER_IP,
    isTrusted,
  });

  // Memory store: each worker keeps a replica of the ledger and of the active lockouts (no
  // IPC per message or per AUTH); Redis: both are fleet-wide, so workers ask the primary
  // (src/smtp/replicated-ledger.ts, src/smtp/local-lockouts.ts).
  // Session ticket keys are the primary's, so any worker resumes any client's TLS session
  // (ticket-keys.ts); replaced every 12 h, in every worker at once.
  const ticketKeys = new TicketKeyRotation((keys) => {
    supervisor.updateTicketKeys(keys);
    log.info({ event: 'tls.ticket_keys_rotated' }, 'TLS session ticket keys replaced');
  });
  const supervisor = new Supervisor(
    config,
    tls,
    ticketKeys.current,
    randomBytes(32).toString('hex'),
    log,
    () =>
      redis
        ? { ledger: { mode: 'primary' }, lockouts: { mode: 'primary' } }
        : {
            ledger: { mode: 'replicated', entries: memory.ledgerEntries(), keys: 'memory' },
            lockouts: { mode: 'local', active: memory.activeLockouts() },
          },
  );
  const metrics = new MetricsAggregator(
    {
      *workers() {
        for (const w of supervisor.liveWorkers())
          yield {
            id: w.worker.id,
            requestMetrics: async (timeoutMs: number) =>
              (await w.channel.request<PrimaryResponseBody<'metrics'>>('metrics', {}, timeoutMs)).metrics,
          };
      },
    },
    config.METRICS_WORKER_TIMEOUT_MS,
    config.METRICS_MAX_STALENESS_MS,
  );
  const podState = {
    config,
    table,
    store,
    isTrusted,
    log,
    peers: () => supervisor.liveWorkers(),
    workerMetrics: (workerId: number, snapshot: Parameters<MetricsAggregator['offer']>[1]) =>
      metrics.offer(workerId, snapshot),
  };
  supervisor.on('message', (from, message) => handleWorkerMessage(podState, from, message));
  supervisor.on('exit', (w) => {
    table.releaseWorker(w.worker.id);
    podConnections.set(table.total); // else the gauge keeps a dead worker's connections until the next one
    metrics.retire(w.worker.id);
  });

  let draining = false;
  const readiness = () => (draining ? { ready: false, reason: 'draining' } : supervisor.readiness());
  supervisor.on('change', () => gatewayReady.set(readiness().ready ? 1 : 0));

  const app = createHttpApp({
    readiness,
    metrics,
    log,
    extraRoutes: (a) =>
      mountStatusRoutes(a, { supervisor, table, metrics, sandboxUrl: sandbox?.url, config, recentEvents }),
  });
  const http: Server = await new Promise((resolve, reject) => {
    const server = app.listen(config.HTTP_PORT, config.HTTP_HOST, () => resolve(server));
    server.once('error', reject);
  });
  const httpPort = (http.address() as AddressInfo).port;
  log.info({ event: 'http.listening', httpPort }, 'HTTP listening');

  // Signals are handled from here on: one arriving while workers start must not kill the primary.

  const reloadTls = async (why: string) => {
    try {
      const next = await loadTlsMaterial(source, config.SMTP_HOSTNAME, log);
      if (next.cert === tls.cert && next.key === tls.key) return;
      tls = next;
      supervisor.updateTls(tls);
      tlsCertificateExpiry.set(certificateNotAfter(tls).getTime() / 1000);
      tlsReloadsTotal.inc({ outcome: 'ok' });
      log.info(
        { event: 'tls.reloaded', why, notAfter: certificateNotAfter(tls).toISOString() },
        'TLS material reloaded',
      );
    } catch (err) {
      tlsReloadsTotal.inc({ outcome: 'error' });
      log.error(
        { event: 'tls.reload_failed', why, err: (err as Error).message },
        'TLS reload failed; keeping the current certificate',
      );
    }
  };
  const stopWatching = watchTlsSource(source, () => void reloadTls('file change'));

  let rolling: Promise<void> | undefined;
  let started = false;
  process.on('SIGHUP', () => {
    if (draining || rolling) return;
    if (!started) {
      log.warn({ event: 'gateway.reload_ignored' }, 'SIGHUP during start-up ignored: workers are starting');
      return;
    }
    log.info({ event: 'gateway.reload' }, 'SIGHUP: reloading TLS and restarting workers one by one');
    rolling = reloadTls('SIGHUP')
      .then(() => supervisor.rollingRestart())
      .finally(() => {
        rolling = undefined;
        log.info({ event: 'gateway.reloaded' }, 'rolling restart complete');
      });
  });

  const shutdown = async (signal: string) => {
    if (draining) return;
    draining = true;
    table.draining = true;
    gatewayReady.set(0);
    log.info({ event: 'gateway.draining', signal, drainTimeout: config.DRAIN_TIMEOUT }, 'draining');
    stopWatching();
    ticketKeys.stop();
    await supervisor.stop();
    // close() stops the timer that ends a request whose headers never finish: its callback
    // would wait for such a client for ever. The workers are gone; nothing here is worth waiting for.
    const httpClosed = new Promise((r) => http.close(r));
    http.closeAllConnections();
    await Promise.all([httpClosed, sandbox?.stop(), store.close()]);
    log.info({ event: 'gateway.stopped' }, 'stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  // pm2 shutdown_with_message
  process.on('message', (m) => {
    if (m === 'shutdown') void shutdown('pm2');
  });

  supervisor.start();
  ticketKeys.start();
  await new Promise<void>((resolve) => {
    const check = () => {
      if (supervisor.readiness().ready) {
        supervisor.off('change', check);
        resolve();
      }
    };
    supervisor.on('change', check);
    check();
  });
  log.info(
    {
      event: 'gateway.ready',
      smtpPort: supervisor.smtpPort,
      httpPort,
      workers: config.SMTP_WORKERS,
      upstream: sandbox ? 'sandbox' : 'cakemail',
      // What the launcher gave Node (src/primary/node-flags.ts says what it should).
      nodeFlags: process.execArgv,
    },
    'gateway ready',
  );
  if (sandbox && config.NODE_ENV === 'development')
    announceSandbox(log, config, supervisor.smtpPort ?? config.SMTP_PORT);
  started = true;
  process.send?.('ready'); // pm2 wait_ready
}
