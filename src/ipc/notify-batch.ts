/**
 * Items for one kind of notification to the primary, sent together: one IPC write and
 * one wake-up of the primary per batch instead of per item. A batch leaves `delayMs`
 * after its first item, at the end of the event-loop turn when `flushAtTurnEnd()` is
 * asked (something is waiting on it), or at once with `flush()` (an exiting worker).
 * Used for connection releases (session-hooks.ts) and ledger records
 * (replicated-ledger.ts), each of which says why its delay is safe.
 */
export class NotifyBatch<T> {
  readonly #send: (items: T[]) => void;
  readonly #delayMs: number;
  #items: T[] = [];
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;

  constructor(send: (items: T[]) => void, delayMs: number) {
    this.#send = send;
    this.#delayMs = Math.max(0, delayMs);
  }

  get size(): number {
    return this.#items.length;
  }

  add(item: T): void {
    this.#items.push(item);
    if (this.#timer === undefined && this.#immediate === undefined) {
      this.#timer = setTimeout(() => this.flush(), this.#delayMs);
      this.#timer.unref(); // the IPC channel keeps a worker alive; an exiting one flushes
    }
  }

  /** What is queued leaves at the end of this event-loop turn (after the reply it goes with). */
  flushAtTurnEnd(): void {
    if (this.#items.length === 0 || this.#immediate !== undefined) return;
    this.#immediate = setImmediate(() => this.flush());
  }

  /** Sends what is queued now. */
  flush(): void {
    clearTimeout(this.#timer);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
    if (this.#items.length === 0) return;
    const items = this.#items;
    this.#items = [];
    this.#send(items);
  }
}
