/**
 * One scenario against one server (gateway or reference), start to stop, under a hard
 * cap: start the server tree, fork the generator(s), warm up, (hold sessions), measure
 * with CPU/RSS sampling of the server tree and /metrics polling, (half-rate phase),
 * stop everything.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GeneratorProc } from './generator-proc.ts';
import { histogramBuckets, observedBetween } from './histogram.ts';
import type { HoldResult, RunResult, RunSpec, Target } from './load-generator.ts';
import { cpuSeconds, cpuWindow, TreeSampler, treePids, waitForQuiet } from './proc-stats.ts';
import type { Scenario } from './scenarios.ts';
import {
  NULL_MAIL_SIDE_USER,
  setUpstreamLatency,
  startGateway,
  startReference,
  type CertPaths,
  type ServerTree,
} from './servers.ts';
import { MiB, percentiles, type Percentiles } from './stats.ts';

export interface GatewaySettings {
  workers: number;
  sched: 'rr' | 'none';
  /** Extra env for the gateway tree (NODE_OPTIONS=--cpu-prof ...). */
  env?: Record<string, string>;
  sandboxEnv?: Record<string, string>;
  /** SMTP layer only (servers.ts NULL_MAIL_SIDE): no MIME conversion, no upstream. */
  nullMailSide?: boolean;
}

export interface PhaseResult {
  messages: number;
  seconds: number;
  msgPerSec: number;
  latency: Percentiles;
  /** Latency samples (ms), kept for the chart. */
  latencySamples: number[];
  connections: number;
  newConnPerSec: number;
  banner: Percentiles;
  errors: number;
  errorSamples: string[];
  generatorCpuPct: number;
  timedOut: boolean;
}

export interface Measurement {
  scenario: string;
  server: 'gateway' | 'reference';
  settings: string;
  peak?: PhaseResult;
  cpuSecPer1000?: number;
  /** The part of cpuSecPer1000 spent by the sandbox upstream (remote in production). */
  sandboxCpuSecPer1000?: number;
  /** Server tree CPU during the peak run, in cores (1 = one core busy). */
  serverCores?: number;
  /** Other processes on the machine during the peak run, in cores (neither server nor generator). */
  othersCores?: number;
  /** Busy cores of the machine just before the measurement (after waiting for quiet). */
  busyBefore?: number;
  peakRssMiB?: number;
  /** Gateway only: peak RSS of the primary and its workers, the sandbox upstream left out. */
  peakGatewayRssMiB?: number;
  /** Peak proportional set size of the tree (shared pages split between processes), sampled each second. */
  peakPssMiB?: number;
  /** RSS per process (role: MiB) when the tree's RSS peaked. */
  peakRssByProcess?: Record<string, number>;
  half?: PhaseResult & {
    ratePerSec: number;
    /**
     * The gateway's own account of that run (smtp_data_added_latency_seconds, /metrics
     * before and after): end of DATA to reply minus the wait on the Cakemail API.
     */
    added?: { count: number; p50Ms: number; p99Ms: number; shareWithin5Ms: number };
  };
  hold?: {
    wanted: number;
    held: number;
    failed: number;
    openSeconds: number;
    banner: Percentiles;
    rssBeforeMiB: number;
    rssHeldMiB: number;
    kibPerSession: number;
    probeBanner: Percentiles;
    errorSamples: string[];
  };
  /** /metrics scraped every 100 ms during a closed-loop run like the peak (msgPerSec: that run's). */
  metrics?: { polls: number; failures: number; latency: Percentiles; msgPerSec?: number };
  /** The peak run in CLOCK_MONOTONIC µs (to cut CPU profiles to it). */
  peakWindowUs?: { fromUs: number; toUs: number };
  /** Measurements made (a run disturbed by other processes on the machine is repeated). */
  attempts?: number;
  gatewayLogLines?: number;
  gatewayLogSamples?: string[];
  failure?: string;
}

export interface MeasureContext {
  dataDir: string;
  cert: CertPaths;
  sources: string[];
  gateway: GatewaySettings;
  /** Half of the gateway's peak msg/s for this scenario, when already measured. */
  halfRate?: number;
  /** Smoke run: no retry of a disturbed measurement, a short wait for a quiet machine. */
  quick?: boolean;
  /** Called with the primary pid once the gateway is up (profiling maps pids to roles). */
  onGateway?: (tree: ServerTree) => void;
}

const USER = { user: 'demo@cakemail.test', pass: 'demo-password', from: 'demo@cakemail.test' };

function phase(r: RunResult): PhaseResult {
  const seconds = r.elapsedMs / 1000;
  return {
    messages: r.messages,
    seconds,
    msgPerSec: r.messages / seconds,
    latency: percentiles(r.latencyMs),
    latencySamples: r.latencyMs,
    connections: r.connections,
    newConnPerSec: r.connections / seconds,
    banner: percentiles(r.bannerMs),
    errors: r.errors,
    errorSamples: r.errorSamples,
    generatorCpuPct: (r.cpuMs / r.elapsedMs) * 100,
    timedOut: r.timedOut,
  };
}

/** GET /metrics every 100 ms until stopped, from a process of its own (bench/metrics-poller.ts). */
async function pollMetrics(httpPort: number): Promise<{
  stop(): Promise<{ polls: number; failures: number; latency: Percentiles }>;
}> {
  const poller = fork(new URL('./metrics-poller.ts', import.meta.url).pathname, [String(httpPort)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  type PollerMessage = { type: 'up' } | { type: 'result'; durations: number[]; failures: number };
  const next = <T extends PollerMessage['type']>(type: T) =>
    new Promise<Extract<PollerMessage, { type: T }>>((resolve, reject) => {
      const onMessage = (m: PollerMessage) => {
        if (m.type !== type) return;
        poller.off('message', onMessage);
        resolve(m as Extract<PollerMessage, { type: T }>);
      };
      poller.on('message', onMessage);
      poller.once('exit', (code) => reject(new Error(`metrics poller exited (${code})`)));
    });
  await next('up');
  return {
    async stop() {
      const result = next('result');
      poller.send('stop');
      const { durations, failures } = await result;
      return { polls: durations.length + failures, failures, latency: percentiles(durations) };
    },
  };
}

/** The scenario's server (gateway tree with the context's settings, or the reference), started and ready. */
export async function startServer(
  s: Scenario,
  server: 'gateway' | 'reference',
  ctx: MeasureContext,
  fds: number,
): Promise<ServerTree> {
  const tree =
    server === 'gateway'
      ? await startGateway({
          dataDir: join(ctx.dataDir, `${s.id}-gateway-${Date.now()}`),
          cert: ctx.cert,
          workers: ctx.gateway.workers,
          sched: ctx.gateway.sched,
          fds,
          ...(ctx.gateway.env ? { env: ctx.gateway.env } : {}),
          ...(ctx.gateway.sandboxEnv ? { sandboxEnv: ctx.gateway.sandboxEnv } : {}),
          ...(ctx.gateway.nullMailSide ? { nullMailSide: true } : {}),
        })
      : await startReference(ctx.cert, s.upstreamLatencyMs ?? 0, fds);
  if (tree.sandboxUrl && s.upstreamLatencyMs) await setUpstreamLatency(tree.sandboxUrl, s.upstreamLatencyMs);
  return tree;
}

/** Where the generator connects and as whom, for a tree started by startServer. */
export function targetOf(tree: ServerTree, ctx: MeasureContext): Target {
  const user =
    ctx.gateway.nullMailSide && tree.kind === 'gateway' ? { ...USER, ...NULL_MAIL_SIDE_USER } : USER;
  return { host: '127.0.0.1', port: tree.smtpPort, sources: ctx.sources, ...user };
}

export async function measure(
  s: Scenario,
  server: 'gateway' | 'reference',
  ctx: MeasureContext,
): Promise<Measurement> {
  const settings =
    server === 'gateway'
      ? `${ctx.gateway.workers} worker(s), sched ${ctx.gateway.sched}${ctx.gateway.nullMailSide ? ', SMTP layer only' : ''}`
      : '1 process';
  const m: Measurement = { scenario: s.id, server, settings };
  const fds = (s.hold?.count ?? 0) + s.load.sessions + 2048;
  const cleanup: Array<() => Promise<void> | void> = [];
  m.busyBefore = await waitForQuiet(DISTURBED_CORES, ctx.quick ? 3_000 : 60_000);
  let capTimer: NodeJS.Timeout | undefined;
  const capped = new Promise<never>((_, reject) => {
    capTimer = setTimeout(() => reject(new Error(`hard cap of ${s.capMs / 1000} s reached`)), s.capMs);
  });
  const work = async () => {
    const tree = await startServer(s, server, ctx, fds);
    cleanup.push(() => tree.stop());
    if (server === 'gateway') ctx.onGateway?.(tree);
    const target = targetOf(tree, ctx);
    const gen = await GeneratorProc.start(s.load.sessions + 1024);
    cleanup.unshift(() => gen.stop());
    const spec = (tag: string, over: Partial<RunSpec> = {}): RunSpec => ({
      ...target,
      ...s.load,
      tag,
      ...over,
    });
    const run = (r: RunSpec) =>
      gen
        .request<{ result: RunResult }>({ type: 'run', spec: r }, 'result', r.durationMs + 30_000)
        .then((x) => x.result);

    // The sandbox stands in for Cakemail's API (another machine in production): its memory
    // is measured apart from the gateway's.
    const sampler = new TreeSampler(tree.roots, tree.sandboxUrl && tree.roots[1] ? [tree.roots[1]] : []);
    sampler.start();
    cleanup.unshift(() => void sampler.stop());
    await run(spec(`${s.id}-warm-${Date.now()}`, s.warmup));

    let holder: GeneratorProc | undefined;
    if (s.hold) {
      holder = await GeneratorProc.start(s.hold.count + 1024);
      cleanup.unshift(() => holder!.stop());
      const before = sampler.sample();
      const held = await holder.request<{ result: HoldResult }>(
        { type: 'hold', spec: { ...target, ...s.hold } },
        'held',
        s.hold.timeoutMs + 30_000,
      );
      await sleep(1000); // let allocations settle before reading RSS
      const after = sampler.sample();
      const n = Math.max(1, held.result.held);
      m.hold = {
        wanted: s.hold.count,
        held: held.result.held,
        failed: held.result.failed,
        openSeconds: held.result.elapsedMs / 1000,
        banner: percentiles(held.result.bannerMs),
        rssBeforeMiB: before / MiB,
        rssHeldMiB: after / MiB,
        kibPerSession: (after - before) / 1024 / n,
        probeBanner: percentiles([]),
        errorSamples: held.result.errorSamples,
      };
    }

    const probe = holder?.request<{ bannerMs: number[] }>(
      { type: 'probe', target, durationMs: s.load.durationMs, everyMs: 50 },
      'probed',
      s.load.durationMs + 30_000,
    );
    const sandboxPids = tree.sandboxUrl ? treePids(tree.roots.slice(1)) : [];
    const sandbox0 = cpuSeconds(sandboxPids);
    const window = cpuWindow(tree.roots, [gen.pid, ...(holder ? [holder.pid] : [])]);
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    const peak = phase(await run(spec(`${s.id}-peak-${Date.now()}`)));
    m.peakWindowUs = { fromUs, toUs: Number(process.hrtime.bigint() / 1000n) };
    const { cpu, wall, othersCores } = window.end();
    m.peak = peak;
    m.cpuSecPer1000 = peak.messages > 0 ? (cpu / peak.messages) * 1000 : NaN;
    if (sandboxPids.length)
      m.sandboxCpuSecPer1000 =
        peak.messages > 0 ? ((cpuSeconds(sandboxPids) - sandbox0) / peak.messages) * 1000 : NaN;
    m.serverCores = cpu / wall;
    m.othersCores = othersCores;
    if (probe && m.hold) m.hold.probeBanner = percentiles((await probe).bannerMs);
    if (server === 'gateway' && s.pollMetrics && tree.httpPort) {
      // Its own phase, the same closed-loop load: a scrape every 100 ms is a load of its
      // own (every worker serialises its registry each time), kept out of the peak figures.
      const poller = await pollMetrics(tree.httpPort);
      const durationMs = Math.min(s.load.durationMs, 10_000);
      const loaded = phase(await run(spec(`${s.id}-metrics-${Date.now()}`, { durationMs })));
      m.metrics = { ...(await poller.stop())!, msgPerSec: loaded.msgPerSec };
    }
    if (holder) {
      const released = await holder.request<{ stillOpen: number }>({ type: 'release' }, 'released', 30_000);
      m.hold!.held = Math.min(m.hold!.held, released.stillOpen);
    }

    if (s.halfRatePhase) {
      const rate = ctx.halfRate ?? (server === 'gateway' ? peak.msgPerSec / 2 : 0);
      if (rate > 0) {
        const durationMs = Math.min(s.load.durationMs, 10_000);
        const scrape = async () =>
          server === 'gateway' && tree.httpPort
            ? (await fetch(`http://127.0.0.1:${tree.httpPort}/metrics`)).text()
            : undefined;
        const before = await scrape();
        const half = phase(await run(spec(`${s.id}-half-${Date.now()}`, { ratePerSec: rate, durationMs })));
        const after = await scrape();
        m.half = { ...half, ratePerSec: rate };
        if (before !== undefined && after !== undefined) {
          const name = 'smtp_data_added_latency_seconds';
          const o = observedBetween(histogramBuckets(before, name), histogramBuckets(after, name));
          m.half.added = {
            count: o.count,
            p50Ms: o.quantile(0.5) * 1000,
            p99Ms: o.quantile(0.99) * 1000,
            shareWithin5Ms: o.shares.find(([b]) => b === 0.005)?.[1] ?? NaN,
          };
        }
      }
    }
    const sampled = sampler.stop();
    m.peakRssMiB = sampled.peakRss / MiB;
    if (server === 'gateway') m.peakGatewayRssMiB = sampler.peakRssWithoutApart / MiB;
    m.peakPssMiB = sampled.peakPss / MiB;
    const role = (pid: number) =>
      pid === tree.primaryPid
        ? 'primary'
        : tree.sandboxUrl && pid === tree.roots[1]
          ? 'sandbox'
          : server === 'reference'
            ? 'reference'
            : `worker ${pid}`;
    m.peakRssByProcess = Object.fromEntries(
      sampler.peakBreakdown.map(([pid, b]) => [role(pid), Math.round(b / MiB)]),
    );
    if (tree.logs) {
      m.gatewayLogLines = tree.logs.lines;
      m.gatewayLogSamples = tree.logs.samples;
    }
  };
  try {
    await Promise.race([work(), capped]);
  } catch (err) {
    m.failure = (err as Error).message.split('\n')[0];
  } finally {
    clearTimeout(capTimer);
    for (const c of cleanup) {
      try {
        await c();
      } catch {
        // best effort: the next scenario starts on fresh processes anyway
      }
    }
  }
  return m;
}

/** Other processes above this many cores during the peak run make a measurement "disturbed". */
export const DISTURBED_CORES = 0.3;

/**
 * measure(), repeated (up to `tries` times) while other processes on the machine took
 * more than DISTURBED_CORES during the peak run; keeps the least disturbed attempt.
 */
export async function measureStable(
  s: Scenario,
  server: 'gateway' | 'reference',
  ctx: MeasureContext,
  tries = ctx.quick ? 1 : 3,
): Promise<Measurement> {
  let best: Measurement | undefined;
  let attempts = 0;
  while (attempts < tries) {
    const m = await measure(s, server, ctx);
    attempts++;
    if (!best || (m.peak && (!best.peak || (m.othersCores ?? 0) < (best.othersCores ?? 0)))) best = m;
    if (m.failure || (m.othersCores ?? 0) <= DISTURBED_CORES) break;
  }
  return { ...best!, attempts };
}
