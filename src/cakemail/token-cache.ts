/**
 * Bounded LRU map with a per-entry expiry, and the keyed hash that names credentials.
 * Used for the AUTH cache (tokens + accounts), the negative cache (wrong passwords)
 * and the sender directory. A Map keeps insertion order, so re-inserting on use makes
 * the first key the least recently used one.
 */
import { createHmac, type KeyObject } from 'node:crypto';

export class LruTtlCache<V> {
  readonly #max: number;
  readonly #now: () => number;
  readonly #map = new Map<string, { value: V; expiresAt: number }>();

  constructor(maxEntries: number, now: () => number = Date.now) {
    this.#max = Math.max(1, maxEntries);
    this.#now = now;
  }

  /** The value if present and not expired; marks it recently used. */
  get(key: string): V | undefined {
    const e = this.#map.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= this.#now()) {
      this.#map.delete(key);
      return undefined;
    }
    this.#map.delete(key);
    this.#map.set(key, e);
    return e.value;
  }

  set(key: string, value: V, ttlMs: number): void {
    this.#map.delete(key);
    if (ttlMs <= 0) return;
    this.#map.set(key, { value, expiresAt: this.#now() + ttlMs });
    while (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next();
      if (oldest.done) break;
      this.#map.delete(oldest.value);
    }
  }

  /** Pushes the expiry of a live entry forward (idle expiry), without changing the value. */
  touch(key: string, ttlMs: number): void {
    const e = this.#map.get(key);
    if (e && e.expiresAt > this.#now()) e.expiresAt = Math.max(e.expiresAt, this.#now() + ttlMs);
  }

  delete(key: string): void {
    this.#map.delete(key);
  }

  get size(): number {
    return this.#map.size;
  }

  clear(): void {
    this.#map.clear();
  }
}

/**
 * The name of a (username, password) pair: HMAC-SHA256 under a per-pod key that only
 * lives in memory. Equal credentials give equal keys inside the pod; nobody holding a
 * key (logs, metrics, a heap dump without the secret) can test passwords against it.
 * Usernames are case-insensitive e-mail addresses; passwords are not. Callers keep the
 * secret as a KeyObject: HMAC under a Buffer imports the key on every call (~25 µs, against
 * ~4 µs with a KeyObject, on the bench machine), once per AUTH.
 */
export function credentialKey(secret: KeyObject | Buffer, username: string, password: string): string {
  // Length-prefixing keeps ("ab","c") and ("a","bc") apart.
  const u = Buffer.from(username.trim().toLowerCase(), 'utf8');
  const p = Buffer.from(password, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(u.length);
  return createHmac('sha256', secret).update(len).update(u).update(p).digest('base64url');
}
