/**
 * The targets, judged on a run: the gateway/reference ratios (the median of the
 * paired phases) and the latency, memory, banner and /metrics bounds.
 */
import type { BenchData, ScenarioRun } from './bench-data.ts';
import { f0, f1, f2, pct } from './format.ts';
import type { Measurement } from './measure.ts';
import { medianPairRatio, pairRatio } from './paired-phases.ts';

/** gateway / reference msg/s of one measurement of each (a scenario's full run). */
export function runRatio(
  gateway: Measurement | undefined,
  reference: Measurement | undefined,
): number | undefined {
  const g = gateway?.peak?.msgPerSec;
  const r = reference?.peak?.msgPerSec;
  return g !== undefined && r ? g / r : undefined;
}

/** The scenario's ratio: the median paired phase's when it has them, else its full run's. */
export function ratio(run: ScenarioRun): number | undefined {
  return run.pairs?.length ? medianPairRatio(run.pairs) : runRatio(run.gateway, run.reference);
}

export function ratioText(run: ScenarioRun, median: number | undefined): string {
  if (!run.pairs?.length)
    return run.pairsFailure
      ? `${pct(median)} (the full runs alone: paired phases failed, ${run.pairsFailure})`
      : pct(median);
  const all = run.pairs.map(pairRatio).sort((x, y) => x - y);
  return (
    `${pct(median)} (median of ${all.length} paired phases, ${pct(all[0])}–${pct(all.at(-1))}; ` +
    `the full runs alone: ${pct(runRatio(run.gateway, run.reference))})`
  );
}

export interface TargetRow {
  target: string;
  measured: string;
  ok: boolean | undefined;
}

export function evaluateTargets(data: BenchData): TargetRow[] {
  const run = (id: string) => data.runs.find((r) => r.scenario.id === id);
  const rows: TargetRow[] = [];
  const a = run('a');
  const b = run('b');
  const e = run('e');
  const f = run('f');
  if (a) {
    const r = ratio(a);
    rows.push({
      target: '(a) msg/s ≥ 50 % of the reference',
      measured: ratioText(a, r),
      ok: r === undefined ? undefined : r >= 0.5,
    });
  }
  if (b) {
    const r = ratio(b);
    rows.push({
      target: '(b) msg/s ≥ 70 % of the reference',
      measured: ratioText(b, r),
      ok: r === undefined ? undefined : r >= 0.7,
    });
  }
  // Added latency: the gateway's reply time minus the upstream's latency, per message, as
  // the worker measures it (smtp_data_added_latency_seconds); the verdict is the share of
  // messages within 5 ms (an exact bucket bound), p99 is interpolated in its bucket. The
  // client's view (whose tail includes the upstream's, on the same two cores) is beside it.
  for (const [run, reference, upstream] of [
    [a, a?.reference?.half?.latency.p99, 'gateway p99 − reference p99'],
    [f, 50, 'p99 − 50 ms upstream'],
  ] as const) {
    const half = run?.gateway?.half;
    if (!half || reference === undefined) continue;
    const client = `client view: ${f2(half.latency.p99 - reference)} ms (${upstream})`;
    const added = half.added;
    rows.push({
      target: `(${run.scenario.id}) p99 added latency ≤ 5 ms at half the peak rate (${f0(half.ratePerSec)} msg/s; reply time minus the wait on the API, per message)`,
      measured: added
        ? `${pct(added.shareWithin5Ms, 2)} of ${added.count} messages within 5 ms, p99 ≈ ${f2(added.p99Ms)} ms; ${client}`
        : client,
      ok: added ? added.shareWithin5Ms >= 0.99 : undefined,
    });
  }
  if (e?.gateway?.hold) {
    const h = e.gateway.hold;
    const rss = e.gateway.peakRssMiB ?? NaN;
    const gatewayRss = e.gateway.peakGatewayRssMiB ?? NaN;
    rows.push({
      target: `(e) ${h.wanted.toLocaleString('en')} sessions held, whole gateway tree (primary + workers) < 1 GiB RSS`,
      measured: `${h.held} held, gateway peak RSS ${f0(gatewayRss)} MiB; with the sandbox upstream ${f0(rss)} MiB (PSS ${f0(e.gateway.peakPssMiB)})`,
      ok: h.held >= h.wanted && gatewayRss < 1024,
    });
    const p99 = Math.max(h.banner.p99, Number.isFinite(h.probeBanner.p99) ? h.probeBanner.p99 : 0);
    rows.push({
      target: '(e) time to banner p99 < 250 ms',
      measured: `${f0(h.banner.p99)} ms while opening, ${f0(h.probeBanner.p99)} ms during (a)`,
      ok: p99 < 250,
    });
  }
  if (a?.gateway?.metrics) {
    const p99 = a.gateway.metrics.latency.p99;
    rows.push({ target: '/metrics p99 < 50 ms during (a)', measured: `${f1(p99)} ms`, ok: p99 < 50 });
  }
  return rows;
}
