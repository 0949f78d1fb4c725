/**
 * Pod-wide (or, with Redis, fleet-wide) state that every worker consults over IPC:
 * message rate per IP, AUTH failures and lockouts, and the delivery ledger that
 * prevents duplicates when a client retries. One interface, two implementations:
 * memory in the primary (default) and Redis (src/primary/pod-state/redis-store.ts).
 */
export interface SharedStore {
  /** Takes one message from the IP's per-minute budget; false when it is spent. */
  consumeRate(ip: string, perMinute: number): Promise<boolean>;
  /** Counts a failed AUTH; true when the IP is (now) locked out. */
  recordAuthFailure(ip: string): Promise<boolean>;
  isLockedOut(ip: string): Promise<boolean>;
  /** The subset of `keys` recorded as accepted and not expired. */
  ledgerAccepted(keys: readonly string[]): Promise<string[]>;
  ledgerRecord(keys: readonly string[], ttlSeconds: number): Promise<void>;
  close(): Promise<void>;
}

export interface LockoutPolicy {
  threshold: number;
  windowMs: number;
  durationMs: number;
}
