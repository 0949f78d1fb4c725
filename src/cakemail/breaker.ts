/**
 * One circuit breaker per worker in front of every Cakemail API call (cockatiel).
 * It opens after BREAKER_FAILURE_THRESHOLD consecutive upstream failures (5xx, no
 * connection, timeouts, no answer), fails calls fast with `unavailable` while open,
 * and lets one probe through after BREAKER_HALF_OPEN_AFTER_MS.
 *
 * Any other answer (2xx, 4xx, 429) proves the API reachable and resets the count:
 * cockatiel ignores errors its filter does not handle, so those are passed through the
 * breaker as values and rethrown outside it.
 */
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen } from 'cockatiel';
import type { CircuitBreakerPolicy } from 'cockatiel';
import { cakemailCircuitBreakerState } from '../metrics/worker-metrics.ts';
import { CakemailError, isCakemailError, isUpstreamFailure, type CakemailEndpoint } from './errors.ts';

export type BreakerState = 'closed' | 'half_open' | 'open';

export interface ApiBreaker {
  execute<T>(endpoint: CakemailEndpoint, fn: () => Promise<T>): Promise<T>;
  readonly state: BreakerState;
  dispose(): void;
}

const GAUGE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

export function createBreaker(opts: { threshold: number; halfOpenAfterMs: number }): ApiBreaker {
  const policy: CircuitBreakerPolicy = circuitBreaker(handleWhen(isUpstreamFailure), {
    halfOpenAfter: opts.halfOpenAfterMs,
    breaker: new ConsecutiveBreaker(opts.threshold),
  });
  const stateOf = (): BreakerState =>
    policy.state === CircuitState.Closed
      ? 'closed'
      : policy.state === CircuitState.HalfOpen
        ? 'half_open'
        : 'open';
  cakemailCircuitBreakerState.set(0);
  const sub = policy.onStateChange(() => cakemailCircuitBreakerState.set(GAUGE[stateOf()]));

  return {
    async execute<T>(endpoint: CakemailEndpoint, fn: () => Promise<T>): Promise<T> {
      let outcome: { ok: true; value: T } | { ok: false; error: unknown };
      try {
        outcome = await policy.execute(async () => {
          try {
            return { ok: true as const, value: await fn() };
          } catch (error) {
            if (isCakemailError(error) && !isUpstreamFailure(error)) return { ok: false as const, error };
            throw error;
          }
        });
      } catch (error) {
        if (error instanceof BrokenCircuitError) {
          throw new CakemailError('unavailable', endpoint, 0, 'circuit breaker open after repeated failures');
        }
        throw error;
      }
      if (outcome.ok) return outcome.value;
      throw outcome.error;
    },
    get state() {
      return stateOf();
    },
    dispose() {
      sub.dispose();
    },
  };
}
