/**
 * An SMTP worker process: waits for `init` from the primary (config, TLS, auth key),
 * builds the Cakemail side and the smtp-server, listens on the shared port, then
 * answers the primary's messages in one exhaustive switch.
 */
import type { Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { Config } from '../config/schema.ts';
import type { PrimaryToWorker } from '../ipc/messages.ts';
import { respond } from '../ipc/channel.ts';
import { createLogger, type Logger } from '../log.ts';
import { flushCompileCache } from '../compile-cache.ts';
import { workerRegistry } from '../metrics/worker-metrics.ts';
import type { Authenticator, MailPipeline } from './contracts.ts';
import { PrimaryLink } from './primary-link.ts';
import { installHalfCloseHandling } from './half-close.ts';
import { installPlaintextAuthGuard } from './plaintext-auth.ts';
import { installReplyShim } from './reply-shim.ts';
import { baseServerOptions, tlsContextOptions } from './server-options.ts';
import { replyText } from './replies.ts';
import { DeliveryTracker, WorkerDrain } from './drain.ts';
import { createSessionHooks } from './session-hooks.ts';
import { IpcLedger } from './ipc-ledger.ts';
import { ReplicatedLedger } from './replicated-ledger.ts';
import { LocalLockouts } from './local-lockouts.ts';
import type { DeliveryLedger } from '../delivery/ledger.ts';

export interface MailSide {
  authenticator: Authenticator;
  pipeline: MailPipeline;
  close(): Promise<void>;
}

type InitMessage = Extract<PrimaryToWorker, { type: 'init' }>;
/** What a worker's TLS context is built from (init, then each tls.update). */
type TlsSettings = Pick<InitMessage, 'tls' | 'ticketKeys'>;

/**
 * The Cakemail side of this worker. GATEWAY_TEST_MAIL_SIDE lets the foundation tests
 * plug an in-test implementation (a module exporting `createMailSide`); it is refused
 * in production.
 */
async function createMailSide(init: InitMessage, ledger: DeliveryLedger, log: Logger): Promise<MailSide> {
  const override = process.env.GATEWAY_TEST_MAIL_SIDE;
  if (override) {
    if (init.config.NODE_ENV === 'production')
      throw new Error('GATEWAY_TEST_MAIL_SIDE is refused in production');
    const mod = (await import(override)) as { createMailSide(config: Config): MailSide };
    return mod.createMailSide(init.config);
  }
  const { createCakemailSide } = await import('../cakemail/index.ts');
  return createCakemailSide(init.config, {
    authKey: Buffer.from(init.authKey, 'hex'),
    ledger,
    log,
  });
}

export function runWorker(): void {
  if (!process.send) throw new Error('an SMTP worker must be started by the primary (node:cluster)');
  installReplyShim();
  installPlaintextAuthGuard();
  installHalfCloseHandling();
  const link = new PrimaryLink(process as unknown as ConstructorParameters<typeof PrimaryLink>[0]);
  let server: SMTPServer | undefined;
  /** A tls.update that came before the server existed: start() builds the server from it. */
  let pendingTls: TlsSettings | undefined;
  /** Rebuilds the server's TLS context from a tls.update (set once the server exists). */
  let applyTls = (tls: TlsSettings) => {
    pendingTls = tls;
  };
  let side: MailSide | undefined;
  let replica: ReplicatedLedger | undefined;
  let lockouts: LocalLockouts | undefined;
  let log: Logger | undefined;
  let shuttingDown = false;
  /** Set once the server exists (start()); shutdown() hands it the server. */
  let drain: WorkerDrain | undefined;
  /** Sends the queued `connection.closed` batch (set once the hooks exist). */
  let flushReleases = () => {};

  const shutdown = (reason: 'stop' | 'rolling' | 'primary gone') => {
    if (shuttingDown) return;
    shuttingDown = true;
    log?.info({ event: 'worker.draining', reason }, 'worker draining');
    const done = () => {
      replica?.flush();
      flushReleases();
      void side?.close().catch(() => undefined);
      log?.info({ event: 'worker.stopped' }, 'worker stopped');
      // Last counts go to the primary so totals stay exact across restarts. Then one round
      // trip before exiting: node:cluster may have handed this worker a connection before
      // the primary saw its listener close. That handoff is in the pipe ahead of the answer,
      // and cluster sends it back to be routed to another worker; exiting before it arrives
      // left the client's socket open in the primary with nobody to greet it, ever.
      void workerRegistry.getMetricsAsJSON().then(
        (metrics) => {
          if (!process.connected) process.exit(0);
          link.notify({ type: 'metrics.final', metrics });
          const exit = () => process.exit(0);
          link.request('worker.leaving', {}).then(exit, exit);
        },
        () => process.exit(0),
      );
    };
    if (!server || !drain) return done();
    drain.start(server, reason === 'rolling' ? 'rolling' : 'stop', done);
  };

  process.on('message', (message: PrimaryToWorker) => {
    switch (message.type) {
      case 'init':
        // Built at once, not in start(): `ledger.replicate` may follow `init` immediately.
        if (message.ledger.mode === 'replicated') {
          replica = new ReplicatedLedger((m) => link.notify(m), {
            batchMs: message.config.DEDUP_SHARE_DELAY_MS,
            maxEntries: message.config.DEDUP_MAX_ENTRIES,
          });
          replica.seed(message.ledger.entries, message.ledger.keys ?? 'wire');
        }
        if (message.lockouts.mode === 'local') lockouts = new LocalLockouts(message.lockouts.active);
        void start(message, replica ?? new IpcLedger(link)).catch((err: Error) => {
          (log ?? console).error(
            { event: 'worker.start_failed', err: err.message, stack: err.stack },
            'worker failed to start',
          );
          process.exit(1);
        });
        return;
      case 'ledger.replicate':
        replica?.apply(message.keys, message.ttlSeconds);
        return;
      case 'lockout.started':
        lockouts?.add(message.ip, message.until);
        return;
      case 'tls.update':
        applyTls(message);
        log?.info({ event: 'worker.tls_updated' }, 'TLS material updated');
        return;
      case 'shutdown':
        shutdown(message.reason);
        return;
      case 'request':
        switch (message.kind) {
          case 'metrics':
            respond(
              process as never,
              message.id,
              workerRegistry.getMetricsAsJSON().then((metrics) => ({ metrics })),
            );
            return;
          default:
            return;
        }
      case 'response':
        link.channel.handleResponse(message);
        return;
      default: {
        const never: never = message;
        log?.warn({ event: 'worker.unknown_message', message: never }, 'unknown IPC message');
      }
    }
  });
  // The primary went away (crash, kill -9): nothing can be admitted or counted any more.
  process.on('disconnect', () => shutdown('primary gone'));

  async function start(init: InitMessage, ledger: DeliveryLedger): Promise<void> {
    const { config } = init;
    log = createLogger({
      level: config.LOG_LEVEL,
      format: config.LOG_FORMAT,
      flushMs: config.LOG_FLUSH_MS,
      role: 'worker',
      worker: init.slot,
    });
    side = await createMailSide(init, ledger, log);
    const deliveries = new DeliveryTracker();
    const pipeline = deliveries.track(side.pipeline);
    const workerDrain = new WorkerDrain({
      deliveries,
      pipeline,
      drainTimeoutMs: config.DRAIN_TIMEOUT * 1000,
      log,
    });
    const hooks = createSessionHooks({
      config,
      link,
      authenticator: side.authenticator,
      pipeline,
      log,
      ...(lockouts ? { lockouts } : {}),
    });
    flushReleases = hooks.flushReleases;
    server = new SMTPServer({
      ...baseServerOptions(config, (pendingTls ?? init).tls, (pendingTls ?? init).ticketKeys),
      ...hooks,
      onClose(session) {
        hooks.onClose(session);
        // A lost 250 shows as a closed session: share its records before any resend (replicated-ledger.ts).
        replica?.publishNow();
        setImmediate(() => workerDrain.sessionClosed()); // after smtp-server dropped it from `connections`
      },
    });
    const smtp = server;
    drain = workerDrain;
    applyTls = (tls) => smtp.updateSecureContext(tlsContextOptions(config, tls.tls, tls.ticketKeys));
    // Admission is asked at accept, during smtp-server's 100 ms early-talker wait.
    server.server.on('connection', (socket: Socket) => hooks.onSocket(socket));
    if (config.AUTH_TIMEOUT > 0) {
      // Checked every few seconds: an O(sessions) scan, cheap next to the sessions themselves.
      const sweep = setInterval(
        () => {
          const stale = new Set(hooks.unauthenticatedFor(config.AUTH_TIMEOUT));
          if (stale.size === 0 || !server) return;
          for (const connection of server.connections) {
            if (!stale.has(connection.id)) continue;
            log?.info({ event: 'smtp.auth_timeout', session: connection.id }, 'no AUTH in time; closing');
            connection.send(421, replyText('authTimeout'));
            connection.close();
          }
        },
        Math.min(5_000, config.AUTH_TIMEOUT * 500),
      );
      sweep.unref();
    }
    if (config.METRICS_MAX_STALENESS_MS > 0) {
      // Our numbers, unasked, so a scrape never has to wait for this event loop when it is
      // saturated (metrics-aggregator.ts): ~1 ms of work twice a second.
      const push = setInterval(
        () => {
          if (shuttingDown) return;
          void workerRegistry.getMetricsAsJSON().then((metrics) => {
            if (process.connected) link.notify({ type: 'metrics.snapshot', metrics });
          });
        },
        Math.max(100, config.METRICS_MAX_STALENESS_MS / 2),
      );
      push.unref();
    }
    server.on('error', (err) =>
      log?.warn({ event: 'smtp.server_error', err: err.message }, 'SMTP server error'),
    );
    server.listen(config.SMTP_PORT, config.SMTP_HOST, () => {
      const address = server!.server.address();
      const port = typeof address === 'object' && address ? address.port : config.SMTP_PORT;
      log?.info({ event: 'worker.listening', port, generation: init.generation }, 'SMTP worker listening');
      link.notify({ type: 'ready', slot: init.slot, port });
      flushCompileCache(); // every module is loaded now: the next worker starts from the cache
    });
  }
}
