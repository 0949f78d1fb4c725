/**
 * Wall time a message spends waiting on the Cakemail API: the union of the intervals in
 * which at least one of its calls (sender lookup, each recipient's POST with its retries)
 * is in flight. Parallel recipients count once. What the gateway adds to a reply is the
 * end-of-DATA-to-reply time minus this (smtp_data_added_latency_seconds): the part an
 * operator can tune here rather than ask Cakemail about.
 */
export class UpstreamClock {
  #inFlight = 0;
  #since = 0;
  #totalMs = 0;
  readonly #now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** Runs `call`, counting the time it is in flight. */
  track<T>(call: () => Promise<T>): Promise<T> {
    if (this.#inFlight++ === 0) this.#since = this.#now();
    const done = () => {
      if (--this.#inFlight === 0) this.#totalMs += this.#now() - this.#since;
    };
    let p: Promise<T>;
    try {
      p = call();
    } catch (err) {
      done();
      throw err;
    }
    return p.finally(done);
  }

  /** Seconds so far (a call still in flight counts up to now). */
  get seconds(): number {
    const open = this.#inFlight > 0 ? this.#now() - this.#since : 0;
    return (this.#totalMs + open) / 1000;
  }
}
