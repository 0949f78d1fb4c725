/**
 * Request/response over an IPC endpoint (a worker's `process`, or a cluster Worker
 * seen from the primary): numbered ids, a pending map, and a timeout per request so
 * a hung peer never stalls the caller.
 */
import type { ResponseMessage } from './messages.ts';

export interface IpcEndpoint {
  send(
    message: unknown,
    sendHandle?: undefined,
    options?: undefined,
    callback?: (error: Error | null) => void,
  ): boolean;
}

export class IpcTimeoutError extends Error {
  override name = 'IpcTimeoutError';
}

interface Pending {
  resolve(body: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export class RequestChannel {
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  /**
   * Requests that timed out and asked to hear of a late answer (`onLate`): the peer still
   * answers them (it acted on the request), and what it did may need undoing. Kept until
   * that answer comes or the peer goes away (`rejectAll`): the peer answers every request.
   */
  readonly #late = new Map<number, (body: unknown) => void>();
  readonly #endpoint: IpcEndpoint;

  constructor(endpoint: IpcEndpoint) {
    this.#endpoint = endpoint;
  }

  /**
   * Sends `{type:'request', id, kind, body}` and resolves with the response body.
   * `onLate`: called with the body of a successful answer that arrives after the timeout
   * rejected the promise (never when the promise resolved, so at most one of the two).
   */
  request<T>(kind: string, body: unknown, timeoutMs: number, onLate?: (body: T) => void): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        if (onLate) this.#late.set(id, onLate as (b: unknown) => void);
        reject(new IpcTimeoutError(`IPC ${kind} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.#pending.set(id, { resolve: resolve as (b: unknown) => void, reject, timer });
      try {
        this.#endpoint.send({ type: 'request', id, kind, body }, undefined, undefined, (error) => {
          if (error) this.#settle(id, undefined, error);
        });
      } catch (error) {
        this.#settle(id, undefined, error as Error);
      }
    });
  }

  /** Feed every `response` message here. */
  handleResponse(message: ResponseMessage): void {
    const late = this.#late.get(message.id);
    if (late) {
      this.#late.delete(message.id);
      if (message.ok) late(message.body);
      return;
    }
    this.#settle(
      message.id,
      message.body,
      message.ok ? undefined : new Error(message.error ?? 'IPC request failed'),
    );
  }

  /** The peer went away: fail everything still waiting. */
  rejectAll(reason: string): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id, undefined, new Error(reason));
    this.#late.clear(); // no answer can come any more
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Timed-out requests still waiting for their late answer (`onLate`). */
  get lateCount(): number {
    return this.#late.size;
  }

  #settle(id: number, body: unknown, error: Error | undefined): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (error) pending.reject(error);
    else pending.resolve(body);
  }
}

/** Answers a request: `{type:'response', id, ok, body|error}`. Send failures are ignored (peer gone). */
export function respond(endpoint: IpcEndpoint, id: number, result: Promise<unknown>): void {
  result.then(
    (body) => safeSend(endpoint, { type: 'response', id, ok: true, body } satisfies ResponseMessage),
    (error: unknown) =>
      safeSend(endpoint, {
        type: 'response',
        id,
        ok: false,
        error: String((error as Error)?.message ?? error),
      } satisfies ResponseMessage),
  );
}

export function safeSend(endpoint: IpcEndpoint, message: unknown): void {
  try {
    endpoint.send(message, undefined, undefined, () => {});
  } catch {
    // The channel closed (peer exiting); the caller's timeout or exit handling covers it.
  }
}
