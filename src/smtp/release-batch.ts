/**
 * Connections given back to the primary (`connection.closed`), batched.
 *
 * Under connection churn (bench (b): one message per connection) a notification per
 * close was one IPC write and one wake-up of the primary per connection, on top of the
 * admission request. Closes within `batchMs` (10 ms) now leave together.
 *
 * The delay only ever makes the pod's count too high for a few milliseconds, never too
 * low, so no limit can be exceeded through it. A client refused at accept because its
 * slot was not yet given back is asked again when smtp-server's 100 ms early-talker wait
 * ends (early-admission.ts), long after the batch left. A worker that exits loses
 * nothing: the primary gives back every connection of a dead worker.
 */
import type { WorkerToPrimary } from '../ipc/messages.ts';

const DEFAULT_BATCH_MS = 10;

export class ReleaseBatch {
  readonly #send: (message: WorkerToPrimary) => void;
  readonly #batchMs: number;
  #ips: string[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(send: (message: WorkerToPrimary) => void, batchMs = DEFAULT_BATCH_MS) {
    this.#send = send;
    this.#batchMs = batchMs;
  }

  add(ip: string): void {
    this.#ips.push(ip);
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), this.#batchMs);
      this.#timer.unref(); // the IPC channel keeps a worker alive; an exiting one flushes
    }
  }

  /** Sends what is queued now (the timer, a draining worker, tests). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#ips.length === 0) return;
    const ips = this.#ips;
    this.#ips = [];
    this.#send({ type: 'connection.closed', ips });
  }
}
