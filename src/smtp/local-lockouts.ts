/**
 * The pod's AUTH lockouts as a worker holds them when they live in the primary's memory:
 * seeded at init, one `lockout.started` per new lockout (rare), looked up at each AUTH
 * without a round trip to the primary (one per connection, ~5 % of a worker's CPU under
 * connection churn, docs/benchmarks.md). The primary decides every lockout (it counts the
 * failures, `auth.failed`); this copy only answers "is this IP locked out now".
 */
export class LocalLockouts {
  /** ip → locked until (epoch ms). */
  readonly #until = new Map<string, number>();
  readonly #now: () => number;

  constructor(active: ReadonlyArray<readonly [string, number]> = [], now: () => number = Date.now) {
    this.#now = now;
    for (const [ip, until] of active) this.add(ip, until);
  }

  add(ip: string, until: number): void {
    if (until > (this.#until.get(ip) ?? 0)) this.#until.set(ip, until);
  }

  isLockedOut(ip: string): boolean {
    const until = this.#until.get(ip);
    if (until === undefined) return false;
    if (until > this.#now()) return true;
    this.#until.delete(ip); // expired: lockouts are few, each goes at its first look after
    return false;
  }

  get size(): number {
    return this.#until.size;
  }
}
