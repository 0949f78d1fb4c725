/**
 * Fault injection: what the next requests suffer (latency, an error status, a dropped
 * connection before or after the request was processed, a 201 that says rejected/error).
 *
 * Rules, so a test can predict exactly what happens:
 * - A request "matches" when its endpoint is in `endpoints` (default all three) and the
 *   spec has something for it: a spec with only `submitStatus` matches emails only, so
 *   the gateway's login does not use up `remaining`.
 * - `remaining` counts matching requests (whether or not the `errorRate` roll hit);
 *   the spec clears itself after the last one.
 * - `latencyMs` applies to every matching request. One roll against `errorRate`
 *   (default 1) then picks the first set action: dropBeforeRequest, status,
 *   dropAfterRequest, submitStatus; `errorRate` alone means status 500.
 */

export type FaultEndpoint = 'token' | 'senders' | 'emails';

export interface FaultSpec {
  latencyMs?: number;
  status?: number;
  errorRate?: number;
  dropAfterRequest?: boolean;
  dropBeforeRequest?: boolean;
  submitStatus?: 'rejected' | 'error';
  endpoints?: FaultEndpoint[];
  remaining?: number;
}

export type FaultAction =
  | { kind: 'none' }
  | { kind: 'dropBefore' }
  | { kind: 'status'; status: number }
  | { kind: 'dropAfter' }
  | { kind: 'submitStatus'; status: 'rejected' | 'error' };

export interface FaultDecision {
  latencyMs: number;
  action: FaultAction;
}

const ENDPOINTS: readonly FaultEndpoint[] = ['token', 'senders', 'emails'];
const KEYS = new Set([
  'latencyMs',
  'status',
  'errorRate',
  'dropAfterRequest',
  'dropBeforeRequest',
  'submitStatus',
  'endpoints',
  'remaining',
]);

/** Checks an untrusted spec (HTTP control surface, in-process callers); throws a readable Error. */
export function parseFaultSpec(input: unknown): FaultSpec {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new Error('fault spec must be a JSON object');
  }
  const o = input as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KEYS.has(k)) throw new Error(`unknown fault field "${k}"`);
  const spec: FaultSpec = {};
  const int = (k: string, min: number, max: number): number | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new Error(`${k} must be an integer in [${min}, ${max}]`);
    }
    return v;
  };
  const bool = (k: string): boolean | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw new Error(`${k} must be a boolean`);
    return v;
  };
  const latencyMs = int('latencyMs', 0, 600_000);
  if (latencyMs !== undefined) spec.latencyMs = latencyMs;
  const status = int('status', 400, 599);
  if (status !== undefined) spec.status = status;
  const remaining = int('remaining', 1, Number.MAX_SAFE_INTEGER);
  if (remaining !== undefined) spec.remaining = remaining;
  if (o.errorRate !== undefined) {
    if (typeof o.errorRate !== 'number' || !(o.errorRate >= 0 && o.errorRate <= 1)) {
      throw new Error('errorRate must be a number in [0, 1]');
    }
    spec.errorRate = o.errorRate;
  }
  const dropAfter = bool('dropAfterRequest');
  if (dropAfter !== undefined) spec.dropAfterRequest = dropAfter;
  const dropBefore = bool('dropBeforeRequest');
  if (dropBefore !== undefined) spec.dropBeforeRequest = dropBefore;
  if (o.submitStatus !== undefined) {
    if (o.submitStatus !== 'rejected' && o.submitStatus !== 'error') {
      throw new Error('submitStatus must be "rejected" or "error"');
    }
    spec.submitStatus = o.submitStatus;
  }
  if (o.endpoints !== undefined) {
    const e = o.endpoints;
    if (!Array.isArray(e) || e.length === 0 || !e.every((x) => ENDPOINTS.includes(x as FaultEndpoint))) {
      throw new Error(`endpoints must be a non-empty list of ${ENDPOINTS.join(', ')}`);
    }
    spec.endpoints = [...new Set(e as FaultEndpoint[])];
  }
  return spec;
}

export class FaultState {
  #spec: FaultSpec | null = null;
  readonly #random: () => number;

  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  set(spec: FaultSpec | null): void {
    this.#spec = spec === null ? null : parseFaultSpec(spec);
  }

  /** The current spec (with what is left of `remaining`), or null. */
  get(): FaultSpec | null {
    return this.#spec === null ? null : { ...this.#spec };
  }

  /** What to do to this request; null when no fault applies. Consumes `remaining`. */
  decide(endpoint: FaultEndpoint): FaultDecision | null {
    const spec = this.#spec;
    if (spec === null || !matches(spec, endpoint)) return null;
    if (spec.remaining !== undefined) {
      spec.remaining -= 1;
      if (spec.remaining <= 0) this.#spec = null;
    }
    return { latencyMs: spec.latencyMs ?? 0, action: pickAction(spec, endpoint, this.#random) };
  }
}

function hasAction(spec: FaultSpec): boolean {
  return (
    spec.status !== undefined ||
    spec.errorRate !== undefined ||
    spec.dropAfterRequest === true ||
    spec.dropBeforeRequest === true
  );
}

function matches(spec: FaultSpec, endpoint: FaultEndpoint): boolean {
  if (spec.endpoints !== undefined && !spec.endpoints.includes(endpoint)) return false;
  if (endpoint === 'emails') return true;
  return hasAction(spec) || (spec.latencyMs ?? 0) > 0;
}

function pickAction(spec: FaultSpec, endpoint: FaultEndpoint, random: () => number): FaultAction {
  const submit = endpoint === 'emails' ? spec.submitStatus : undefined;
  if (!hasAction(spec) && submit === undefined) return { kind: 'none' };
  if (random() >= (spec.errorRate ?? 1)) return { kind: 'none' };
  if (spec.dropBeforeRequest === true) return { kind: 'dropBefore' };
  if (spec.status !== undefined) return { kind: 'status', status: spec.status };
  if (spec.dropAfterRequest === true) return { kind: 'dropAfter' };
  if (submit !== undefined) return { kind: 'submitStatus', status: submit };
  return { kind: 'status', status: 500 };
}
