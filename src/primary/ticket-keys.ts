/**
 * TLS session ticket keys, held by the primary and handed to every worker.
 *
 * A ticket is the client's copy of its TLS session, encrypted under the server's ticket
 * keys; presenting it on the next connection resumes the session without the
 * certificate's signature (RSA-2048: ~0.36 ms of a core, a full handshake's largest part).
 * Node gives each secure context random keys of its own, so with several workers a
 * client came back to the worker that issued its ticket one time in SMTP_WORKERS, and a
 * restarted worker forgot every ticket. With the keys here, every worker of the pod (and
 * every worker forked later) honours every ticket of the pod, the way Postfix's tlsmgr
 * shares them among its smtpd processes.
 *
 * The keys are replaced every TICKET_KEY_PERIOD_MS: a stolen key opens at most that long
 * a window of sessions. Node takes one key at a time, so a ticket older than the current
 * key is refused and its client makes a full handshake: a cost once per client and
 * period, never a failure.
 */
import { randomBytes } from 'node:crypto';

/** 48 bytes: Node's ticket key name (16), HMAC secret (16) and AES key (16). */
export const TICKET_KEY_BYTES = 48;
/** How long one set of keys serves. */
export const TICKET_KEY_PERIOD_MS = 12 * 3_600_000;

/** Fresh ticket keys, base64 (the form they travel in over IPC). */
export function newTicketKeys(): string {
  return randomBytes(TICKET_KEY_BYTES).toString('base64');
}

/**
 * The current keys, replaced every TICKET_KEY_PERIOD_MS; `onRotate` gets each replacement. The
 * timer is unref'd: it never keeps a stopping primary alive.
 */
export class TicketKeyRotation {
  #keys = newTicketKeys();
  #timer: NodeJS.Timeout | undefined;
  readonly #onRotate: (keys: string) => void;

  constructor(onRotate: (keys: string) => void) {
    this.#onRotate = onRotate;
  }

  get current(): string {
    return this.#keys;
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.#keys = newTicketKeys();
      this.#onRotate(this.#keys);
    }, TICKET_KEY_PERIOD_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
