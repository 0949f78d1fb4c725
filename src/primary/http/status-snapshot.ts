/**
 * What the status page shows, computed at most once a second however many browsers poll
 * it: slot states and open connections come from the primary's own tables (O(workers));
 * message and API rates from two snapshots of the aggregated worker counters (one worker
 * round per snapshot, through MetricsAggregator.values); the outbox from the sandbox.
 * Nothing here runs per message.
 */
import type { MetricValue } from 'prom-client';
import type { Config } from '../../config/schema.ts';
import type { ConnectionTable } from '../admission.ts';
import type { RecentEvent, RecentEvents } from '../recent-events.ts';
import type { SlotState, Supervisor } from '../supervisor.ts';
import type { MetricsAggregator } from './metrics-aggregator.ts';
import { SandboxOutboxTail, type OutboxMessage } from './status-outbox.ts';

export interface StatusDeps {
  supervisor: Supervisor;
  table: ConnectionTable;
  metrics: MetricsAggregator;
  sandboxUrl: string | undefined;
  config: Config;
  recentEvents: RecentEvents;
}

export const MESSAGE_STATUSES = ['accepted', 'deferred', 'rejected'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];
export type BreakerState = 'closed' | 'half-open' | 'open' | 'unknown';

/** API call outcomes that say the upstream is unwell (not the client's fault: bad password, invalid mail). */
export const API_ERROR_OUTCOMES: ReadonlySet<string> = new Set([
  'unavailable',
  'timeout',
  'ambiguous',
  'throttled',
  'error',
]);

export interface StatusSnapshot {
  generatedAt: string;
  readiness: { ready: boolean; reason?: string };
  workers: { slot: number; state: SlotState; pid: number | null; generation: number; crashes: number }[];
  connections: number;
  /** Seconds between the two counter snapshots the rates come from (null: no earlier snapshot yet). */
  rateWindowSeconds: number | null;
  messages: { status: MessageStatus; total: number; perSecond: number | null }[];
  upstream: {
    url: string;
    sandbox: boolean;
    breaker: BreakerState;
    apiCalls: number;
    apiErrors: number;
    /** Over the rate window when there were calls in it, else since start; null without any call. */
    errorRatio: number | null;
    errorRatioScope: 'window' | 'since start' | null;
  };
  recentErrors: RecentEvent[];
  /** Newest first; null when the upstream is not the embedded sandbox. */
  outbox: Omit<OutboxMessage, 'text' | 'html'>[] | null;
  outboxError: string | null;
}

interface Counters {
  at: number;
  received: Record<MessageStatus, number>;
  apiCalls: number;
  apiErrors: number;
}

const CACHE_MS = 1_000;
/** Rates are taken against the oldest snapshot at most this old: smooth, yet recent. */
const RATE_WINDOW_MS = 10_000;
const BREAKER: Record<number, BreakerState> = { 0: 'closed', 1: 'half-open', 2: 'open' };
const METRIC_NAMES = [
  'smtp_emails_received_total',
  'cakemail_api_request_duration_seconds',
  'cakemail_circuit_breaker_state',
];

function countersOf(values: Map<string, MetricValue<string>[]>, at: number): Counters {
  const received: Record<MessageStatus, number> = { accepted: 0, deferred: 0, rejected: 0 };
  for (const v of values.get('smtp_emails_received_total') ?? []) {
    const status = v.labels.status as MessageStatus;
    if (status in received) received[status] += v.value;
  }
  let apiCalls = 0;
  let apiErrors = 0;
  for (const v of values.get('cakemail_api_request_duration_seconds') ?? []) {
    const name = (v as MetricValue<string> & { metricName?: string }).metricName;
    if (name !== 'cakemail_api_request_duration_seconds_count') continue;
    apiCalls += v.value;
    if (API_ERROR_OUTCOMES.has(String(v.labels.outcome))) apiErrors += v.value;
  }
  return { at, received, apiCalls, apiErrors };
}

export class StatusSource {
  readonly #deps: StatusDeps;
  readonly outbox: SandboxOutboxTail | undefined;
  #history: Counters[] = [];
  #cached: { at: number; snapshot: StatusSnapshot } | undefined;
  #pending: Promise<StatusSnapshot> | undefined;
  readonly #clock: () => number;

  constructor(deps: StatusDeps, clock: () => number = Date.now) {
    this.#deps = deps;
    this.#clock = clock;
    this.outbox = deps.sandboxUrl ? new SandboxOutboxTail(deps.sandboxUrl) : undefined;
  }

  /** The snapshot, at most CACHE_MS old; concurrent callers share one computation. */
  get(): Promise<StatusSnapshot> {
    const now = this.#clock();
    if (this.#cached && now - this.#cached.at < CACHE_MS) return Promise.resolve(this.#cached.snapshot);
    this.#pending ??= this.#compute().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #compute(): Promise<StatusSnapshot> {
    const { supervisor, table, metrics, config, sandboxUrl, recentEvents } = this.#deps;
    const [values, outboxError] = await Promise.all([
      metrics.values(METRIC_NAMES),
      this.outbox?.refresh().then(
        () => null,
        (err: Error) => `sandbox outbox unreadable: ${err.message}`,
      ) ?? null,
    ]);
    const now = this.#clock();
    const current = countersOf(values, now);
    this.#history = this.#history.filter((c) => now - c.at <= RATE_WINDOW_MS);
    const base = this.#history[0];
    this.#history.push(current);
    const seconds = base && now - base.at >= 500 ? (now - base.at) / 1000 : null;
    const rate = (cur: number, prev: number) => (seconds === null ? null : Math.max(0, cur - prev) / seconds);

    const windowCalls = base ? current.apiCalls - base.apiCalls : 0;
    const windowErrors = base ? current.apiErrors - base.apiErrors : 0;
    let errorRatio: number | null = null;
    let errorRatioScope: StatusSnapshot['upstream']['errorRatioScope'] = null;
    if (seconds !== null && windowCalls > 0) {
      errorRatio = Math.max(0, windowErrors) / windowCalls;
      errorRatioScope = 'window';
    } else if (current.apiCalls > 0) {
      errorRatio = current.apiErrors / current.apiCalls;
      errorRatioScope = 'since start';
    }
    const breakerValue = values.get('cakemail_circuit_breaker_state')?.[0]?.value;

    const snapshot: StatusSnapshot = {
      generatedAt: new Date(now).toISOString(),
      readiness: table.draining ? { ready: false, reason: 'draining' } : supervisor.readiness(),
      workers: supervisor.slotStates().map((s) => ({
        slot: s.slot,
        state: s.state,
        pid: s.pid ?? null,
        generation: s.generation,
        crashes: s.restarts,
      })),
      connections: table.total,
      rateWindowSeconds: seconds,
      messages: MESSAGE_STATUSES.map((status) => ({
        status,
        total: current.received[status],
        perSecond: rate(current.received[status], base?.received[status] ?? 0),
      })),
      upstream: {
        url: sandboxUrl ?? config.CAKEMAIL_API_URL ?? '',
        sandbox: sandboxUrl !== undefined,
        breaker: breakerValue === undefined ? 'unknown' : (BREAKER[breakerValue] ?? 'unknown'),
        apiCalls: current.apiCalls,
        apiErrors: current.apiErrors,
        errorRatio,
        errorRatioScope,
      },
      recentErrors: recentEvents.list(),
      outbox: this.outbox ? this.outbox.recent().map(({ text: _t, html: _h, ...rest }) => rest) : null,
      outboxError,
    };
    this.#cached = { at: now, snapshot };
    return snapshot;
  }
}
