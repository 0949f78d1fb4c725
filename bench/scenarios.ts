/**
 * The benchmark scenarios (issue "Performance"), full and --quick sizes. Every
 * scenario is bounded by a message count, a duration and a hard cap on the whole
 * scenario (start, warm-up, hold, measure, stop) per server.
 */
import type { RunSpec } from './load-generator.ts';

export type LoadShape = Pick<
  RunSpec,
  'sessions' | 'mode' | 'messageBytes' | 'pdf' | 'recipients' | 'maxMessages' | 'durationMs' | 'ratePerSec'
>;

export interface Scenario {
  id: string;
  title: string;
  load: LoadShape;
  warmup: { maxMessages: number; durationMs: number };
  /** Scenario (e): sessions opened and held before the load starts. */
  hold?: { count: number; concurrency: number; timeoutMs: number };
  /** Sandbox latency fault; the reference answers the end of DATA after the same delay. */
  upstreamLatencyMs?: number;
  /** After the peak run, a run paced at half the gateway's peak msg/s. */
  halfRatePhase?: boolean;
  /** Poll the gateway's /metrics every 100 ms during the measured run. */
  pollMetrics?: boolean;
  /**
   * Peak-only rounds after the first, gateway and reference alternating which goes first
   * (R G, then G R, ...): the ratio target is judged on the median round, because this
   * machine's speed drifts by tens of percent between two consecutive minutes.
   */
  ratioRounds?: number;
  /** Hard cap for the whole scenario on one server. */
  capMs: number;
}

const KB = 1024;

export function scenarios(quick: boolean): Scenario[] {
  const d = quick ? 3_000 : 15_000;
  // The gateway needs ~10 s of load before its throughput settles (JIT, heap sizing):
  // a 2 s warm-up measured it 20-30 % below its steady state.
  const warmup = { maxMessages: quick ? 300 : 50_000, durationMs: quick ? 1_000 : 10_000 };
  const base = { messageBytes: 5 * KB, pdf: false, recipients: 1, durationMs: d, ratePerSec: 0 };
  const holdCount = quick ? 1_000 : 10_000;
  return [
    {
      id: 'a',
      title: '50 sessions reusing connections, 5 KB, 1 recipient',
      load: { ...base, sessions: 50, mode: 'reuse', maxMessages: 200_000 },
      warmup,
      halfRatePhase: true,
      pollMetrics: true,
      ratioRounds: quick ? 1 : 3,
      capMs: 5 * d + 60_000,
    },
    {
      id: 'b',
      title: 'one message per new TLS connection, 500 sessions',
      load: { ...base, sessions: 500, mode: 'new-connection', maxMessages: 100_000 },
      warmup: { ...warmup, maxMessages: quick ? 300 : 10_000 },
      ratioRounds: quick ? 1 : 3,
      capMs: 2 * d + 60_000,
    },
    {
      id: 'c',
      title: '5 recipients per message, 50 sessions, 5 KB',
      load: { ...base, sessions: 50, mode: 'reuse', recipients: 5, maxMessages: 100_000 },
      warmup,
      capMs: 2 * d + 60_000,
    },
    {
      id: 'd',
      title: '1 MB message with a PDF attachment, 20 sessions',
      load: { ...base, sessions: 20, mode: 'reuse', messageBytes: 1024 * KB, pdf: true, maxMessages: 20_000 },
      warmup: { maxMessages: quick ? 20 : 2_000, durationMs: warmup.durationMs },
      capMs: 2 * d + 60_000,
    },
    {
      id: 'e',
      title: `${holdCount.toLocaleString('en')} authenticated TLS sessions held open while (a) runs`,
      load: { ...base, sessions: 50, mode: 'reuse', maxMessages: 200_000 },
      warmup,
      hold: { count: holdCount, concurrency: 64, timeoutMs: quick ? 30_000 : 120_000 },
      pollMetrics: true,
      capMs: 2 * d + (quick ? 90_000 : 240_000),
    },
    {
      id: 'f',
      title: 'upstream with 50 ms latency, 50 sessions, 5 KB',
      load: { ...base, sessions: 50, mode: 'reuse', maxMessages: 200_000 },
      warmup,
      upstreamLatencyMs: 50,
      halfRatePhase: true,
      capMs: 4 * d + 60_000,
    },
  ];
}

/** Scenario (a) and (b) in the scheduling/worker-count comparison (gateway only). */
export function matrixScenarios(quick: boolean): Scenario[] {
  const d = quick ? 3_000 : 10_000;
  return scenarios(quick)
    .filter((s) => s.id === 'a' || s.id === 'b')
    .map((s) => ({
      ...s,
      load: { ...s.load, durationMs: d },
      warmup: { ...s.warmup, durationMs: Math.min(s.warmup.durationMs, 5_000) },
      halfRatePhase: false,
      pollMetrics: false,
    }));
}
