/**
 * SharedStore in the primary's memory. Every operation is O(1) amortised and
 * synchronous underneath: the primary's event loop hands out every connection, so
 * nothing here may scan or allocate per call beyond a map entry (and a ledger key's
 * 16-byte memory form). Expired entries are swept on a timer in bounded batches.
 */
import { memoryLedgerKey } from '../../delivery/ledger.ts';
import type { LockoutPolicy, SharedStore } from './store.ts';

interface Bucket {
  tokens: number;
  at: number;
}
interface Failures {
  count: number;
  windowStart: number;
  lockedUntil: number;
}

const MAX_IP_ENTRIES = 200_000;

export class MemoryStore implements SharedStore {
  readonly #buckets = new Map<string, Bucket>();
  readonly #failures = new Map<string, Failures>();
  /**
   * memoryLedgerKey(key) → expiry in whole seconds since the epoch (a small integer: no
   * boxed double per entry).
   */
  readonly #ledger = new Map<string, number>();
  /** DEDUP_MAX_ENTRIES: ~60 bytes an entry, here and again in each worker's replica. */
  readonly #maxLedgerEntries: number;
  readonly #lockout: LockoutPolicy;
  readonly #now: () => number;
  readonly #sweeper: NodeJS.Timeout;
  /** Called when an IP becomes locked out (metrics, logs). */
  onLockout: (ip: string, until: number) => void = () => {};

  constructor(lockout: LockoutPolicy, now: () => number = Date.now, maxLedgerEntries = 1_000_000) {
    this.#lockout = lockout;
    this.#now = now;
    this.#maxLedgerEntries = Math.max(1, maxLedgerEntries);
    this.#sweeper = setInterval(() => this.sweep(), 30_000);
    this.#sweeper.unref();
  }

  async consumeRate(ip: string, perMinute: number): Promise<boolean> {
    return this.consumeRateSync(ip, perMinute);
  }

  /** Token bucket: capacity perMinute, refilled continuously at perMinute/60 per second. */
  consumeRateSync(ip: string, perMinute: number): boolean {
    const now = this.#now();
    let bucket = this.#buckets.get(ip);
    if (!bucket) {
      if (this.#buckets.size >= MAX_IP_ENTRIES) this.#evictOldest(this.#buckets);
      bucket = { tokens: perMinute, at: now };
      this.#buckets.set(ip, bucket);
    } else {
      bucket.tokens = Math.min(perMinute, bucket.tokens + ((now - bucket.at) * perMinute) / 60_000);
      bucket.at = now;
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  async recordAuthFailure(ip: string): Promise<boolean> {
    const { threshold, windowMs, durationMs } = this.#lockout;
    if (threshold === 0) return false;
    const now = this.#now();
    let entry = this.#failures.get(ip);
    if (!entry || now - entry.windowStart > windowMs) {
      if (!entry && this.#failures.size >= MAX_IP_ENTRIES) this.#evictOldest(this.#failures);
      entry = { count: 0, windowStart: now, lockedUntil: entry?.lockedUntil ?? 0 };
      this.#failures.set(ip, entry);
    }
    entry.count += 1;
    if (entry.count >= threshold && entry.lockedUntil <= now) {
      entry.lockedUntil = now + durationMs;
      this.onLockout(ip, entry.lockedUntil);
    }
    return entry.lockedUntil > now;
  }

  /** Lockouts in force now: [ip, until epoch ms] (a new worker's seed). */
  activeLockouts(): Array<[string, number]> {
    const now = this.#now();
    const out: Array<[string, number]> = [];
    for (const [ip, f] of this.#failures) if (f.lockedUntil > now) out.push([ip, f.lockedUntil]);
    return out;
  }

  async isLockedOut(ip: string): Promise<boolean> {
    return this.isLockedOutSync(ip);
  }

  isLockedOutSync(ip: string): boolean {
    const entry = this.#failures.get(ip);
    return entry !== undefined && entry.lockedUntil > this.#now();
  }

  async ledgerAccepted(keys: readonly string[]): Promise<string[]> {
    const now = this.#now() / 1000;
    return keys.filter((k) => (this.#ledger.get(memoryLedgerKey(k)) ?? 0) > now);
  }

  async ledgerRecord(keys: readonly string[], ttlSeconds: number): Promise<void> {
    const expires = Math.floor(this.#now() / 1000) + ttlSeconds;
    for (const wireKey of keys) {
      const key = memoryLedgerKey(wireKey);
      if (this.#ledger.size >= this.#maxLedgerEntries) this.#evictOldest(this.#ledger);
      this.#ledger.delete(key); // re-insert so Map order stays oldest-first
      this.#ledger.set(key, expires);
    }
  }

  /**
   * Unexpired ledger entries [key in memory form, expiresAt ms], oldest first: seeds a new
   * worker's replica (LedgerInit `keys: 'memory'`).
   */
  ledgerEntries(): Array<[string, number]> {
    const now = this.#now() / 1000;
    const out: Array<[string, number]> = [];
    for (const [k, expires] of this.#ledger) if (expires > now) out.push([k, expires * 1000]);
    return out;
  }

  /** Drops expired entries; Map iteration order is insertion order, so stop early when possible. */
  sweep(): void {
    const now = this.#now();
    for (const [k, expires] of this.#ledger) {
      if (expires * 1000 > now) break;
      this.#ledger.delete(k);
    }
    for (const [ip, f] of this.#failures) {
      if (f.lockedUntil <= now && now - f.windowStart > this.#lockout.windowMs) this.#failures.delete(ip);
    }
    for (const [ip, b] of this.#buckets) {
      if (now - b.at > 60_000) this.#buckets.delete(ip);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }

  #evictOldest(map: Map<string, unknown>): void {
    const first = map.keys().next();
    if (!first.done) map.delete(first.value);
  }
}
