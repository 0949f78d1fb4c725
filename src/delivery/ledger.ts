/**
 * Remembers which (account, recipient, message) Cakemail already accepted, so a client
 * that retries a message after a 4xx (partial failure) does not make us send it twice.
 * Keys are hashes: the ledger never holds an address or a body.
 *
 * The worker gets a shared implementation (IPC to the primary, later Redis); the memory
 * one here serves tests and single-process use.
 */
import { hash } from 'node:crypto';

export interface DeliveryLedger {
  /** The subset of `keys` recorded and not expired. */
  accepted(keys: string[]): Promise<Set<string>>;
  /** Records `keys` as accepted for `ttlSeconds`. */
  record(keys: string[], ttlSeconds: number): Promise<void>;
  /**
   * The message just recorded ends in a reply the client will retry (a deferral or a
   * partial delivery): a ledger that shares records lazily should share them now.
   */
  publishNow?(): void;
}

/**
 * sha256(accountKey + ':' + lowercased recipient + ':' + message digest). `accountKey`
 * names who sent it (see pipeline.ts), `digest` is the content hash from convertMessage.
 */
export function ledgerKey(accountKey: string, recipient: string, digest: string): string {
  // One-shot crypto.hash: no Hash object per recipient.
  return hash('sha256', `${accountKey}:${recipient.trim().toLowerCase()}:${digest}`, 'base64url');
}

/**
 * The form a process keeps a ledger key in memory (the primary's store, each worker's
 * replica): the first 16 of its 32 hash bytes as a 16-character latin1 string. An entry
 * then takes 61 bytes of V8 heap instead of 93 (1,000,000 keys in a ReplicatedLedger or a
 * MemoryStore: 59 MiB a process instead of 89); 128 bits keep collisions out of reach.
 * Converting costs ~0.2 µs a key, four keys a delivered message across a two-worker pod.
 * Keys on the wire (IPC, Redis) stay ledgerKey's 43-character base64url, so nothing
 * outside a process's memory changes. Any other string (the tests' keys) is kept whole
 * behind a character no 16-byte form contains, so the two kinds never meet.
 */
export function memoryLedgerKey(key: string): string {
  return key.length === 43 && WIRE_KEY.test(key)
    ? Buffer.from(key, 'base64url').toString('latin1', 0, 16)
    : `\u0100${key}`;
}

const WIRE_KEY = /^[A-Za-z0-9_-]{43}$/;

/** The key memoryLedgerKey kept whole (not a 43-character hash key), or undefined. */
export function wholeKeyOf(memoryKey: string): string | undefined {
  return memoryKey.startsWith('\u0100') ? memoryKey.slice(1) : undefined;
}

/** In-memory ledger: TTL per key, bounded (the oldest records go first). */
export class MemoryLedger implements DeliveryLedger {
  readonly #max: number;
  readonly #now: () => number;
  readonly #map = new Map<string, number>();

  constructor(opts: { maxEntries?: number; now?: () => number } = {}) {
    this.#max = Math.max(1, opts.maxEntries ?? 100_000);
    this.#now = opts.now ?? Date.now;
  }

  async accepted(keys: string[]): Promise<Set<string>> {
    const now = this.#now();
    const out = new Set<string>();
    for (const k of keys) {
      const until = this.#map.get(k);
      if (until === undefined) continue;
      if (until > now) out.add(k);
      else this.#map.delete(k);
    }
    return out;
  }

  async record(keys: string[], ttlSeconds: number): Promise<void> {
    const until = this.#now() + ttlSeconds * 1000;
    for (const k of keys) {
      this.#map.delete(k);
      this.#map.set(k, until);
    }
    while (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next();
      if (oldest.done) break;
      this.#map.delete(oldest.value);
    }
  }

  get size(): number {
    return this.#map.size;
  }
}
