/**
 * How an SMTP worker stops without cutting a delivery.
 *
 * A delivery may outlast the drain: DELIVERY_DEADLINE_MS (30 s) of retries plus the call
 * in flight (CAKEMAIL_TIMEOUT_MS) against a DRAIN_TIMEOUT of 30 s. Before, the drain's end
 * answered `421` to such a session and the worker exited under the call: Cakemail could
 * accept the message after its client had been told to send it again (a duplicate), or
 * the call was cut on the wire (an ambiguous send nobody counted).
 *
 * Now, at the drain's end:
 *  - no Cakemail call starts any more (MailPipeline.stopCalls): no first attempt, no
 *    retry, no new delivery (421);
 *  - a session with nothing in flight gets `421 4.3.2` and is closed, as before;
 *  - a session whose delivery is under way gets that delivery's own reply (250, or 451
 *    for what the drain kept from being sent), then the 421, then is closed;
 *  - the worker exits once no delivery is under way, its client gone or not.
 * So the calls still running at the drain's end are the last, and each lasts at most
 * CAKEMAIL_TIMEOUT_MS: the primary allows that much past DRAIN_TIMEOUT before it kills
 * (supervisor.ts), and the pod's grace period and pm2's kill_timeout cover it.
 *
 * Until the drain's end, the two ways in differ:
 *  - `stop` (SIGTERM, the primary gone): smtp-server's close() at once, every new command
 *    gets 421; DATA already being received completes and is delivered.
 *  - `rolling` (SIGHUP): a replacement already listens, so only the listener closes and
 *    each session goes on until it ends by itself or the drain ends.
 */
import type { SMTPServer } from 'smtp-server';
import type { Logger } from '../log.ts';
import type { MailPipeline } from './contracts.ts';
import { replyText } from './replies.ts';

/** The deliveries under way in this worker, per session. */
export class DeliveryTracker {
  readonly #perSession = new Map<string, number>();
  /** What to run once a session's deliveries have ended (the drain closes it). */
  readonly #onSessionIdle = new Map<string, () => void>();
  readonly #onIdle = new Set<() => void>();
  #total = 0;

  /** `pipeline`, with each delivery counted from its start to its end. */
  track(pipeline: MailPipeline): MailPipeline {
    const tracked: MailPipeline = {
      checkSender: (account, address, ctx) => pipeline.checkSender(account, address, ctx),
      deliver: (message, ctx, timing) => {
        const id = ctx.sessionId;
        this.#begin(id);
        // then(ok, fail), not finally(): one promise a message instead of three.
        return pipeline.deliver(message, ctx, timing).then(
          (receipt) => {
            this.#end(id);
            return receipt;
          },
          (err: unknown) => {
            this.#end(id);
            throw err;
          },
        );
      },
    };
    if (pipeline.stopCalls) tracked.stopCalls = () => pipeline.stopCalls?.();
    return tracked;
  }

  get size(): number {
    return this.#total;
  }

  busy(sessionId: string): boolean {
    return this.#perSession.has(sessionId);
  }

  /**
   * Runs `then` once `sessionId` has no delivery under way, after the reply of the last
   * one was handed to its socket: the session hooks answer in the promise callbacks that
   * follow the delivery's end, and those all run before the next macrotask.
   */
  whenSessionIdle(sessionId: string, then: () => void): void {
    if (!this.busy(sessionId)) return then();
    this.#onSessionIdle.set(sessionId, () => setImmediate(then));
  }

  /** Resolves once no delivery is under way. */
  idle(): Promise<void> {
    if (this.#total === 0) return Promise.resolve();
    return new Promise((resolve) => this.#onIdle.add(resolve));
  }

  #begin(id: string): void {
    this.#total++;
    this.#perSession.set(id, (this.#perSession.get(id) ?? 0) + 1);
  }

  #end(id: string): void {
    this.#total--;
    const left = (this.#perSession.get(id) ?? 1) - 1;
    if (left > 0) this.#perSession.set(id, left);
    else {
      this.#perSession.delete(id);
      const then = this.#onSessionIdle.get(id);
      this.#onSessionIdle.delete(id);
      then?.();
    }
    if (this.#total === 0) {
      for (const resolve of this.#onIdle) resolve();
      this.#onIdle.clear();
    }
  }
}

export interface WorkerDrainDeps {
  deliveries: DeliveryTracker;
  pipeline: MailPipeline;
  drainTimeoutMs: number;
  log?: Logger;
}

/** One stopping worker's drain: start() once, sessionClosed() after every closed session. */
export class WorkerDrain {
  readonly #deps: WorkerDrainDeps;
  #done: (() => void) | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #smtp: SMTPServer | undefined;
  #ended = false;

  constructor(deps: WorkerDrainDeps) {
    this.#deps = deps;
  }

  start(smtp: SMTPServer, mode: 'stop' | 'rolling', done: () => void): void {
    this.#smtp = smtp;
    this.#done = done;
    if (mode === 'rolling') smtp.server.close();
    // Every new command gets 421 from here on; the close timeout is ours (server-options.ts
    // sets smtp-server's own beyond reach: it would answer 421 to a delivery under way).
    else smtp.close();
    this.#deadline = setTimeout(() => this.#end(), this.#deps.drainTimeoutMs);
    this.#deadline.unref();
    this.sessionClosed();
  }

  /** Call after a session closed (once smtp-server dropped it from `connections`). */
  sessionClosed(): void {
    const smtp = this.#smtp;
    const done = this.#done;
    if (!smtp || !done || smtp.connections.size > 0) return;
    this.#done = undefined;
    clearTimeout(this.#deadline);
    const { deliveries, log } = this.#deps;
    // A delivery may still run with its client gone: it ends before the worker does.
    if (deliveries.size > 0)
      log?.info({ event: 'worker.awaiting_deliveries', deliveries: deliveries.size }, 'awaiting deliveries');
    void deliveries.idle().then(done);
  }

  /** DRAIN_TIMEOUT has passed: the last calls are the ones on the wire. */
  #end(): void {
    if (this.#ended || !this.#smtp) return;
    this.#ended = true;
    const { deliveries, pipeline, log } = this.#deps;
    pipeline.stopCalls?.();
    let waiting = 0;
    for (const connection of [...this.#smtp.connections]) {
      if (deliveries.busy(connection.id)) waiting++;
      deliveries.whenSessionIdle(connection.id, () => {
        connection.send(421, replyText('shuttingDown'));
        connection.close();
        this.sessionClosed();
      });
    }
    log?.info({ event: 'worker.drain_timeout', deliveriesUnderWay: waiting }, 'drain timeout reached');
    this.sessionClosed();
  }
}
