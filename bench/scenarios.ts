/**
 * The benchmark scenarios (issue "Performance"), full and --quick sizes. Every
 * scenario is bounded by a message count, a duration and a hard cap on the whole
 * scenario (start, warm-up, hold, measure, stop) per server.
 */
import type { RunSpec } from './load-generator.ts';

export type LoadShape = Pick<
  RunSpec,
  | 'sessions'
  | 'messagesPerConnection'
  | 'messageBytes'
  | 'pdf'
  | 'recipients'
  | 'maxMessages'
  | 'durationMs'
  | 'ratePerSec'
  | 'resumeTls'
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
   * After the full run on each server, this many paired phases of `pairSeconds` on both
   * servers kept up (bench/paired-phases.ts): the ratio target is judged on the median
   * pair, because this machine's speed drifts by tens of percent between two minutes.
   */
  ratioPairs?: number;
  pairSeconds?: number;
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
      load: { ...base, sessions: 50, messagesPerConnection: 0, maxMessages: 200_000 },
      warmup,
      halfRatePhase: true,
      pollMetrics: true,
      ratioPairs: quick ? 1 : 11,
      pairSeconds: quick ? 2 : 8,
      capMs: 5 * d + 60_000,
    },
    {
      id: 'b',
      title: 'one message per new TLS connection, 500 sessions',
      load: { ...base, sessions: 500, messagesPerConnection: 1, maxMessages: 100_000 },
      warmup: { ...warmup, maxMessages: quick ? 300 : 10_000 },
      ratioPairs: quick ? 1 : 11,
      pairSeconds: quick ? 2 : 8,
      capMs: 2 * d + 60_000,
    },
    {
      id: 'c',
      title: '5 recipients per message, 50 sessions, 5 KB',
      load: { ...base, sessions: 50, messagesPerConnection: 0, recipients: 5, maxMessages: 100_000 },
      warmup,
      capMs: 2 * d + 60_000,
    },
    {
      id: 'd',
      title: '1 MB message with a PDF attachment, 20 sessions',
      load: {
        ...base,
        sessions: 20,
        messagesPerConnection: 0,
        messageBytes: 1024 * KB,
        pdf: true,
        maxMessages: 20_000,
      },
      warmup: { maxMessages: quick ? 20 : 2_000, durationMs: warmup.durationMs },
      capMs: 2 * d + 60_000,
    },
    {
      id: 'e',
      title: `${holdCount.toLocaleString('en')} authenticated TLS sessions held open while (a) runs`,
      load: { ...base, sessions: 50, messagesPerConnection: 0, maxMessages: 200_000 },
      warmup,
      hold: { count: holdCount, concurrency: 64, timeoutMs: quick ? 30_000 : 120_000 },
      pollMetrics: true,
      capMs: 2 * d + (quick ? 90_000 : 240_000),
    },
    {
      id: 'f',
      title: 'upstream with 50 ms latency, 50 sessions, 5 KB',
      load: { ...base, sessions: 50, messagesPerConnection: 0, maxMessages: 200_000 },
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

/** What `--sessions`, `--per-connection`, `--bytes`, `--pdf`, `--recipients`, `--duration`, `--rate`, `--resume` set. */
export type CustomLoad = Partial<
  Pick<
    LoadShape,
    | 'sessions'
    | 'messagesPerConnection'
    | 'messageBytes'
    | 'pdf'
    | 'recipients'
    | 'durationMs'
    | 'ratePerSec'
    | 'resumeTls'
  >
>;

/**
 * `--scenario custom`: a load of the user's own shape, run like the others (warm-up,
 * measured run, gateway then reference, same client settings). Unset fields are (a)'s.
 */
export function customScenario(custom: CustomLoad, quick: boolean): Scenario {
  const a = scenarios(quick).find((s) => s.id === 'a')!;
  const load: LoadShape = { ...a.load, ...custom };
  const per = load.messagesPerConnection;
  const connection =
    per === 0
      ? 'reusing connections'
      : per === 1
        ? 'one message per new connection'
        : `${per} messages per connection`;
  const size =
    load.messageBytes >= 1024 * KB && load.messageBytes % (1024 * KB) === 0
      ? `${load.messageBytes / (1024 * KB)} MB`
      : load.messageBytes % KB === 0
        ? `${load.messageBytes / KB} KB`
        : `${load.messageBytes} bytes`;
  const title = [
    `custom: ${load.sessions} sessions`,
    connection,
    `${size}${load.pdf ? ' with a PDF attachment' : ''}`,
    `${load.recipients} recipient${load.recipients === 1 ? '' : 's'}`,
    ...(load.ratePerSec > 0 ? [`paced at ${load.ratePerSec} msg/s`] : []),
    ...(load.resumeTls ? ['TLS sessions resumed'] : []),
  ].join(', ');
  return {
    id: 'custom',
    title,
    load,
    warmup: a.warmup,
    // A paced load is its own half-rate phase; a closed loop gets one, as (a) does.
    halfRatePhase: load.ratePerSec === 0,
    capMs: 4 * load.durationMs + (quick ? 60_000 : 120_000),
  };
}

/** The value of a `--bytes` option: a count with an optional k or m (1024-based) suffix. */
export function parseBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([km]?)b?$/i.exec(text.trim());
  if (!m) throw new Error(`--bytes: "${text}" is not a size such as 5120, 5k or 1m`);
  const unit = m[2]?.toLowerCase() === 'm' ? 1024 * KB : m[2]?.toLowerCase() === 'k' ? KB : 1;
  const bytes = Math.round(Number(m[1]) * unit);
  if (bytes < 512) throw new Error('--bytes: at least 512 (headers included)');
  return bytes;
}
