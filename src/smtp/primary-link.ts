/**
 * A worker's typed client for the pod-wide state the primary keeps. Every call has a
 * deadline; when the primary does not answer in time the worker FAILS OPEN for limits
 * (a slow primary must not refuse mail) and logs it — refusing is for limits that
 * were actually reached.
 */
import { RequestChannel, safeSend, type IpcEndpoint } from '../ipc/channel.ts';
import type {
  WorkerRequestBody,
  WorkerRequestKind,
  WorkerResponseBody,
  WorkerToPrimary,
} from '../ipc/messages.ts';

export const IPC_TIMEOUT_MS = 2_000;

export class PrimaryLink {
  readonly channel: RequestChannel;
  readonly #endpoint: IpcEndpoint;

  constructor(endpoint: IpcEndpoint) {
    this.#endpoint = endpoint;
    this.channel = new RequestChannel(endpoint);
  }

  /**
   * `onLateAnswer`: the primary's answer when it came after the deadline (the promise
   * rejected, the worker failed open): what the primary did then is the caller's to undo
   * (a `connection.open` it counted must be given back: session-hooks.ts).
   */
  request<K extends WorkerRequestKind>(
    kind: K,
    body: WorkerRequestBody<K>,
    opts?: { onLateAnswer?: (body: WorkerResponseBody<K>) => void },
  ): Promise<WorkerResponseBody<K>> {
    return this.channel.request<WorkerResponseBody<K>>(kind, body, IPC_TIMEOUT_MS, opts?.onLateAnswer);
  }

  notify(message: WorkerToPrimary): void {
    safeSend(this.#endpoint, message);
  }
}
