/**
 * The delivery ledger as a worker keeps it when the pod's ledger lives in the primary's
 * memory: a local replica. Lookups are local (no IPC round trip per message: those
 * round trips were ~15 % of a worker's CPU and two cross-process wake-ups on every
 * message's critical path, docs/benchmarks.md). Records are applied locally at once and
 * sent to the primary in one `ledger.recorded` notification per batch; the primary keeps
 * the authoritative copy (it seeds new workers) and forwards the keys to every other
 * worker as `ledger.replicate`.
 *
 * Batches: records of a message that ends in a deferral or a partial delivery (the
 * replies a client retries, the case the ledger exists for) leave at the end of the
 * event-loop turn that writes the reply, before the client can read it. So does
 * everything queued when a session closes (worker-main.ts): a client whose 250 was lost
 * with its connection can only resend after a new connection, TLS handshake and AUTH,
 * by which time the records are with the other workers. Records of clean 250s on a
 * session that goes on wait up to `batchMs` (DEDUP_SHARE_DELAY_MS, 50 ms) for company:
 * one notification, one wake-up of the primary and of each other worker per batch
 * instead of per message. At 10 ms those writes were still ~3 % of a worker in bench (a),
 * each ~3× the cost of an HTTP request because it wakes a primary that is otherwise
 * asleep. What the wait leaves open is a client that resends a message it got a 250 for,
 * on another connection, within 50 ms; the ledger was always best-effort (bounded, lost
 * with the pod).
 */
import { isClaimKey } from '../delivery/claims.ts';
import { memoryLedgerKey, wholeKeyOf, type DeliveryLedger } from '../delivery/ledger.ts';
import type { WorkerToPrimary } from '../ipc/messages.ts';
import { NotifyBatch } from '../ipc/notify-batch.ts';

/** DEDUP_MAX_ENTRIES's default; the primary's store has the same bound: the replica holds what it holds. */
const DEFAULT_MAX_ENTRIES = 1_000_000;
/** How long records of clean deliveries may wait to be shared (see above). */
const DEFAULT_BATCH_MS = 50;

export class ReplicatedLedger implements DeliveryLedger {
  /**
   * memoryLedgerKey(key) → expiry in whole seconds since the epoch (a small integer: no
   * boxed double per entry).
   */
  readonly #map = new Map<string, number>();
  /**
   * Claims of deliveries under way (src/delivery/claims.ts), by wire key → expiry in
   * seconds: a few at most, and none nearly always, so a message's claim lookups cost a
   * size check instead of a key conversion and a lookup each.
   */
  readonly #claims = new Map<string, number>();
  readonly #max: number;
  readonly #now: () => number;
  /** Keys recorded here and not yet sent, all with `#pendingTtl`. */
  readonly #pending: NotifyBatch<string>;
  #pendingTtl = 0;

  constructor(
    send: (message: WorkerToPrimary) => void,
    opts: { maxEntries?: number; now?: () => number; batchMs?: number } = {},
  ) {
    this.#max = Math.max(1, opts.maxEntries ?? DEFAULT_MAX_ENTRIES);
    this.#now = opts.now ?? Date.now;
    this.#pending = new NotifyBatch(
      (keys) => send({ type: 'ledger.recorded', keys, ttlSeconds: this.#pendingTtl }),
      opts.batchMs ?? DEFAULT_BATCH_MS,
    );
  }

  /**
   * The primary's entries at init: [key, expiresAt epoch ms], the keys in memory form
   * (LedgerInit's `keys: 'memory'`) or, from a primary that predates it, wire keys.
   */
  seed(entries: ReadonlyArray<readonly [string, number]>, keys: 'memory' | 'wire' = 'wire'): void {
    for (const [key, expiresAt] of entries) {
      const until = Math.floor(expiresAt / 1000);
      // A claim is no hash key: its memory form keeps it whole.
      const wire = keys === 'memory' ? (wholeKeyOf(key) ?? '') : key;
      if (isClaimKey(wire)) this.#claims.set(wire, until);
      else this.#put(keys === 'memory' ? key : memoryLedgerKey(key), until);
    }
  }

  /** Keys recorded by another worker. */
  apply(keys: readonly string[], ttlSeconds: number): void {
    const until = Math.floor(this.#now() / 1000) + ttlSeconds;
    for (const key of keys) {
      if (!isClaimKey(key)) this.#put(memoryLedgerKey(key), until);
      else if (ttlSeconds > 0) this.#claims.set(key, until);
      else this.#claims.delete(key); // taken back
    }
    // Claims of workers that died are never taken back: past a few, expired ones go.
    if (this.#claims.size > 1_000) {
      const nowSeconds = this.#now() / 1000;
      for (const [key, claimUntil] of this.#claims) if (claimUntil <= nowSeconds) this.#claims.delete(key);
    }
  }

  async accepted(keys: string[]): Promise<Set<string>> {
    const now = this.#now() / 1000;
    const out = new Set<string>();
    for (const k of keys) {
      if (isClaimKey(k)) {
        if (this.#claims.size === 0) continue;
        const until = this.#claims.get(k);
        if (until === undefined) continue;
        if (until > now) out.add(k);
        else this.#claims.delete(k); // the claim of a worker that died
        continue;
      }
      const until = this.#map.get(memoryLedgerKey(k));
      if (until !== undefined && until > now) out.add(k);
    }
    return out;
  }

  async record(keys: string[], ttlSeconds: number): Promise<void> {
    if (keys.length === 0) return;
    this.apply(keys, ttlSeconds);
    // One TTL per pod (DEDUP_TTL); should it ever differ, flush what is queued first.
    if (this.#pending.size > 0 && ttlSeconds !== this.#pendingTtl) this.flush();
    this.#pendingTtl = ttlSeconds;
    for (const k of keys) this.#pending.add(k);
  }

  /** A retry is likely, or a session ended: what is queued leaves at the end of this turn. */
  publishNow(): void {
    this.#pending.flushAtTurnEnd();
  }

  /** Sends what was recorded since the last flush (also called before the worker exits). */
  flush(): void {
    this.#pending.flush();
  }

  get size(): number {
    return this.#map.size;
  }

  #put(key: string, until: number): void {
    // Re-insert so Map order stays oldest-first; evict the oldest past the bound.
    this.#map.delete(key);
    this.#map.set(key, until);
    if (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next();
      if (!oldest.done) this.#map.delete(oldest.value);
    }
    // Expired entries at the front go as new ones arrive: O(1) amortised, no timer.
    const first = this.#map.entries().next();
    if (!first.done && first.value[1] * 1000 <= this.#now()) this.#map.delete(first.value[0]);
  }
}
