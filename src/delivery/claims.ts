/**
 * In-flight marks ("claims") in the delivery ledger.
 *
 * The ledger remembers what Cakemail accepted, which covers a client's retry after a 4xx
 * or a lost 250. It did not cover a client that gives up waiting for its DATA reply (a
 * delivery may run DELIVERY_DEADLINE_MS of retries plus a call, 40 s by default; some
 * clients time out sooner) and sends the same message again on a new connection while the
 * first delivery still runs: nothing was recorded yet, so both were sent.
 *
 * So a delivery still running CLAIM_AFTER_MS after it started marks its recipients' keys
 * as being delivered: `claimKey(key)` records in the same ledger, with a TTL that ends when
 * the delivery must have ended (a claim of a worker that died expires by itself), shared at
 * once. A delivery that meets a claim does not send that recipient and answers 451 "being
 * delivered"; the client's later retry meets the acceptance (250) or, if the first
 * delivery failed, nothing (the claim is taken back when a delivery ends: a record with
 * TTL 0). Deliveries that end sooner, almost all of them, never claim: no ledger write,
 * no IPC message. One sweep a second per worker finds the slow ones.
 */
import type { Logger } from '../log.ts';
import type { DeliveryLedger } from './ledger.ts';

/** How long a delivery runs before it claims its recipients (a client gives up later than this). */
export const CLAIM_AFTER_MS = 2_000;

/** The ledger key that says "a delivery of `key` is under way". */
export function claimKey(key: string): string {
  return `${key}~`;
}

export function isClaimKey(key: string): boolean {
  return key.endsWith('~');
}

export interface ClaimHandle {
  /** The delivery ended: takes back its claim, if it made one. */
  end(): void;
}

/** A delivery being watched; its own handle (no closure a message). */
class Running implements ClaimHandle {
  claimed = false;
  readonly owner: DeliveryClaims;
  readonly keys: readonly string[];
  readonly startedAt: number;
  /** Epoch ms by which the delivery has certainly ended. */
  readonly endsBy: number;

  constructor(owner: DeliveryClaims, keys: readonly string[], startedAt: number, endsBy: number) {
    this.owner = owner;
    this.keys = keys;
    this.startedAt = startedAt;
    this.endsBy = endsBy;
  }

  end(): void {
    this.owner.ended(this);
  }
}

const NOTHING_TO_CLAIM: ClaimHandle = { end: () => undefined };

export class DeliveryClaims {
  readonly #ledger: DeliveryLedger;
  readonly #log: Logger;
  readonly #claimAfterMs: number;
  readonly #now: () => number;
  readonly #running = new Set<Running>();

  constructor(ledger: DeliveryLedger, log: Logger, opts: { claimAfterMs?: number; now?: () => number } = {}) {
    this.#ledger = ledger;
    this.#log = log;
    this.#claimAfterMs = opts.claimAfterMs ?? CLAIM_AFTER_MS;
    this.#now = opts.now ?? Date.now;
    if (this.#claimAfterMs > 0) {
      const sweep = setInterval(() => this.#sweep(), Math.min(1_000, this.#claimAfterMs));
      sweep.unref();
    }
  }

  /** A delivery of `keys` starts; it must have ended by `endsBy` (epoch ms). */
  begin(keys: readonly string[], endsBy: number): ClaimHandle {
    if (keys.length === 0) return NOTHING_TO_CLAIM;
    const running = new Running(this, keys, this.#now(), endsBy);
    this.#running.add(running);
    if (this.#claimAfterMs === 0) this.#claim(running);
    return running;
  }

  /** Running.end(): takes back the claim, if one was made. */
  ended(running: Running): void {
    if (!this.#running.delete(running)) return;
    if (running.claimed) this.#write(running.keys.map(claimKey), 0);
  }

  #sweep(): void {
    const due = this.#now() - this.#claimAfterMs;
    for (const running of this.#running)
      if (!running.claimed && running.startedAt <= due) this.#claim(running);
  }

  #claim(running: Running): void {
    running.claimed = true;
    const ttlSeconds = Math.max(1, Math.ceil((running.endsBy - this.#now()) / 1000));
    this.#log.info(
      { event: 'delivery.claimed', recipients: running.keys.length, ttlSeconds },
      'slow delivery: recipients marked as being delivered',
    );
    this.#write(running.keys.map(claimKey), ttlSeconds);
  }

  #write(keys: string[], ttlSeconds: number): void {
    // Shared at once: the resend this guards against comes on another connection.
    this.#ledger.record(keys, ttlSeconds).then(
      () => this.#ledger.publishNow?.(),
      (err: Error) =>
        this.#log.warn(
          { err: err.message },
          'delivery ledger unavailable (claim); a resend may be sent twice',
        ),
    );
  }
}
