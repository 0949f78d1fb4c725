/**
 * What a benchmark run prints and writes: one line per scenario and server, and the
 * generated section of docs/benchmarks.md (between markers, so the hand-written analysis
 * around it survives a re-run), with the targets' verdicts from targets.ts.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { BenchData } from './bench-data.ts';
import { f0, f1, f2, f3, pct } from './format.ts';
import type { Measurement } from './measure.ts';
import { summaryMarkdown } from './profile-summary.ts';
import { PAIR_DISTURBED_CORES, pairRatio } from './paired-phases.ts';
import { evaluateTargets, ratio, runRatio } from './targets.ts';

/** Every paired phase of the scenarios that have them: which server went first, both rates, the disturbance. */
function pairsTable(data: BenchData): string[] {
  const runs = data.runs.filter((r) => (r.pairs?.length ?? 0) > 0);
  if (runs.length === 0) return [];
  const lines = [
    '### Ratio pairs',
    '',
    `Both servers started anew after the full runs above and kept up, each warmed up, then loaded in turn by one generator, the order alternating (bench/paired-phases.ts); a pair where either phase lost more than ${PAIR_DISTURBED_CORES} cores to steal or other processes is measured again (tries). The ratio targets take the median pair.`,
    '',
    '| scenario | pair | first | reference msg/s | gateway msg/s | gateway / reference | CPU ms a message: reference, gateway | steal + other load (cores): reference, gateway | tries |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const run of runs) {
    run.pairs!.forEach((p, i) => {
      lines.push(
        `| (${run.scenario.id}) | ${i + 1} | ${p.first} | ${f0(p.reference.msgPerSec)} | ${f0(p.gateway.msgPerSec)} | ${pct(pairRatio(p))} | ${f3(p.reference.cpuMsPerMessage)}, ${f3(p.gateway.cpuMsPerMessage)} | ${f2(p.reference.othersCores)}, ${f2(p.gateway.othersCores)} | ${p.tries} |`,
      );
    });
    lines.push(`| (${run.scenario.id}) | median | | | | **${pct(ratio(run))}** | | | |`);
  }
  lines.push('');
  return lines;
}

export function oneLine(m: Measurement, reference?: Measurement): string {
  if (m.failure && !m.peak) return `(${m.scenario}) ${m.server} [${m.settings}]: FAILED — ${m.failure}`;
  const p = m.peak!;
  const parts = [
    `(${m.scenario}) ${m.server} [${m.settings}]: ${f0(p.msgPerSec)} msg/s`,
    reference?.peak
      ? `(${pct(p.msgPerSec / reference.peak.msgPerSec)} of reference ${f0(reference.peak.msgPerSec)})`
      : '',
    `latency p50 ${f2(p.latency.p50)} / p99 ${f2(p.latency.p99)} ms`,
    `new conn ${f1(p.newConnPerSec)}/s`,
    `banner p50 ${f0(p.banner.p50)} / p99 ${f0(p.banner.p99)} ms`,
    `${f2(m.cpuSecPer1000)} CPU s/1000 msg${m.sandboxCpuSecPer1000 !== undefined ? ` (sandbox ${f2(m.sandboxCpuSecPer1000)})` : ''} (server ${f2(m.serverCores)} cores, others ${f2(m.othersCores)})`,
    `peak RSS ${f0(m.peakRssMiB)} MiB${m.peakGatewayRssMiB !== undefined ? ` (gateway alone ${f0(m.peakGatewayRssMiB)})` : ''} (PSS ${f0(m.peakPssMiB)}${
      m.peakRssByProcess && Object.keys(m.peakRssByProcess).length > 1
        ? `; ${Object.entries(m.peakRssByProcess)
            .map(([k, v]) => `${k.replace(/ \d+$/, '')} ${v}`)
            .join(', ')}`
        : ''
    })`,
    `generator ${f0(p.generatorCpuPct)} % CPU`,
    p.errors ? `${p.errors} errors (${p.errorSamples.slice(0, 2).join('; ')})` : '0 errors',
  ];
  if (m.half)
    parts.push(
      `| at ${f0(m.half.ratePerSec)} msg/s: p99 ${f2(m.half.latency.p99)} ms${
        m.half.added
          ? `, added by the gateway p99 ≈ ${f2(m.half.added.p99Ms)} ms (${pct(m.half.added.shareWithin5Ms, 2)} within 5 ms)`
          : ''
      }`,
    );
  if (m.hold)
    parts.push(
      `| held ${m.hold.held} sessions (${m.hold.failed} failed), ${f1(m.hold.kibPerSession)} KiB/session, banner p99 ${f0(m.hold.banner.p99)} ms (probe during load p99 ${f0(m.hold.probeBanner.p99)} ms)`,
    );
  if (m.metrics)
    parts.push(
      `| /metrics every 100 ms: p99 ${f1(m.metrics.latency.p99)} ms (${m.metrics.failures} failed), meanwhile ${f0(m.metrics.msgPerSec)} msg/s`,
    );
  if ((m.attempts ?? 1) > 1) parts.push(`| ${m.attempts} attempts (machine shared)`);
  if (m.failure) parts.push(`| ${m.failure}`);
  return parts.filter(Boolean).join(', ').replace(/, \|/g, ' |');
}

function scenarioTable(data: BenchData): string[] {
  const lines = [
    '| scenario | server | msg/s | gateway / reference | latency p50 / p99 ms | new conn/s | banner p50 / p99 ms | CPU s / 1,000 msg (of which sandbox) | server cores | peak RSS / PSS MiB | generator CPU | other load (cores) | errors |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const run of data.runs) {
    for (const m of [run.reference, run.gateway]) {
      if (!m) continue;
      const p = m.peak;
      const cells = [
        `(${run.scenario.id}) ${run.scenario.title}`,
        m.server,
        f0(p?.msgPerSec),
        m.server === 'gateway' ? pct(runRatio(run.gateway, run.reference)) : '',
        `${f2(p?.latency.p50)} / ${f2(p?.latency.p99)}`,
        f1(p?.newConnPerSec),
        `${f0(p?.banner.p50)} / ${f0(p?.banner.p99)}`,
        f2(m.cpuSecPer1000) +
          (m.sandboxCpuSecPer1000 !== undefined ? ` (${f2(m.sandboxCpuSecPer1000)})` : ''),
        f2(m.serverCores),
        `${f0(m.peakRssMiB)} / ${f0(m.peakPssMiB)}`,
        `${f0(p?.generatorCpuPct)} %`,
        f2(m.othersCores),
        p ? String(p.errors) : (m.failure ?? '–'),
      ];
      lines.push(`| ${cells.join(' | ')} |`);
    }
  }
  return lines;
}

export function renderSection(data: BenchData): string {
  const out: string[] = [
    `_Generated by \`${data.command}\` on ${data.date}${data.quick ? ' (--quick: small counts, indicative only)' : ''}._`,
    `Machine: ${data.machine}. Gateway at commit ${data.commit}: ${data.gatewaySettings}, LOG_LEVEL=warn, sandbox upstream in fast mode (no outbox files).`,
    'Server CPU and RSS are summed over the whole server process tree (gateway primary + workers + sandbox; the reference is one process).',
    '',
    '### Targets',
    '',
    '| target | measured | verdict |',
    '|---|---|---|',
    ...evaluateTargets(data).map(
      (t) => `| ${t.target} | ${t.measured} | ${t.ok === undefined ? '–' : t.ok ? 'met' : '**missed**'} |`,
    ),
    '',
    '### Scenarios',
    '',
    ...scenarioTable(data),
    '',
    ...pairsTable(data),
    '![End-of-DATA latency percentiles, gateway vs reference](benchmarks-latency.svg)',
    '',
  ];
  const halves = data.runs.filter((r) => r.gateway?.half || r.reference?.half);
  if (halves.length) {
    out.push(
      "### Latency at half the gateway's peak rate",
      '',
      'Client view (end of DATA written → reply read), and for the gateway its own account of the same messages: reply time minus the wait on the Cakemail API (`smtp_data_added_latency_seconds`).',
      '',
      '| scenario | offered msg/s | server | achieved msg/s | p50 ms | p99 ms | p99.9 ms | added by the gateway: p50 / p99 ms, share ≤ 5 ms |',
      '|---|---:|---|---:|---:|---:|---:|---:|',
    );
    for (const r of halves)
      for (const m of [r.reference, r.gateway])
        if (m?.half)
          out.push(
            `| (${r.scenario.id}) | ${f0(m.half.ratePerSec)} | ${m.server} | ${f0(m.half.msgPerSec)} | ${f2(m.half.latency.p50)} | ${f2(m.half.latency.p99)} | ${f2(m.half.latency.p999)} | ${
              m.half.added
                ? `${f2(m.half.added.p50Ms)} / ${f2(m.half.added.p99Ms)}, ${pct(m.half.added.shareWithin5Ms, 2)}`
                : ''
            } |`,
          );
    out.push('');
  }
  const split = data.runs.filter((r) => r.gateway?.peakRssByProcess);
  if (split.length) {
    out.push(
      "### Gateway memory by process at the tree's RSS peak",
      '',
      '| scenario | primary MiB | workers MiB | sandbox MiB | tree RSS MiB | tree PSS MiB |',
      '|---|---:|---:|---:|---:|---:|',
    );
    for (const r of split) {
      const by = r.gateway!.peakRssByProcess!;
      const workers = Object.entries(by)
        .filter(([k]) => k.startsWith('worker'))
        .map(([, v]) => v);
      out.push(
        `| (${r.scenario.id}) | ${by.primary ?? '–'} | ${workers.join(' + ') || '–'} | ${by.sandbox ?? '–'} | ${f0(r.gateway!.peakRssMiB)} | ${f0(r.gateway!.peakPssMiB)} |`,
      );
    }
    out.push('');
  }
  const holds = data.runs.filter((r) => r.gateway?.hold || r.reference?.hold);
  if (holds.length) {
    out.push(
      '### Held sessions (e)',
      '',
      '| server | held | failed | opening took s | banner p50 / p99 ms (opening) | banner p50 / p99 ms (new connections during the load) | tree RSS before / held MiB | KiB per session |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const r of holds)
      for (const m of [r.reference, r.gateway])
        if (m?.hold) {
          const h = m.hold;
          out.push(
            `| ${m.server} | ${h.held} | ${h.failed} | ${f1(h.openSeconds)} | ${f0(h.banner.p50)} / ${f0(h.banner.p99)} | ${f0(h.probeBanner.p50)} / ${f0(h.probeBanner.p99)} | ${f0(h.rssBeforeMiB)} / ${f0(h.rssHeldMiB)} | ${f1(h.kibPerSession)} |`,
          );
        }
    out.push('');
  }
  const polled = data.runs.filter((r) => r.gateway?.metrics);
  if (polled.length) {
    out.push(
      '### /metrics during the load (polled every 100 ms)',
      '',
      "A closed-loop run like the peak, after it, with a scrape every 100 ms; msg/s of that run beside the peak's shows what scraping at 10 Hz costs.",
      '',
      '| scenario | scrapes | failed | p50 ms | p99 ms | max ms | msg/s while scraped | peak msg/s |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const r of polled) {
      const x = r.gateway!.metrics!;
      out.push(
        `| (${r.scenario.id}) | ${x.polls} | ${x.failures} | ${f1(x.latency.p50)} | ${f1(x.latency.p99)} | ${f1(x.latency.max)} | ${f0(x.msgPerSec)} | ${f0(r.gateway!.peak?.msgPerSec)} |`,
      );
    }
    out.push('');
  }
  const a = data.runs.find((r) => r.scenario.id === 'a');
  if (data.layers.length && a) {
    out.push(
      '### Where the CPU goes, scenario (a)',
      '',
      '| server | msg/s | latency p50 / p99 ms | CPU s / 1,000 msg |',
      '|---|---:|---:|---:|',
    );
    const row = (label: string, m: Measurement | undefined, cpu = m?.cpuSecPer1000) =>
      out.push(
        `| ${label} | ${f0(m?.peak?.msgPerSec)} | ${f2(m?.peak?.latency.p50)} / ${f2(m?.peak?.latency.p99)} | ${f2(cpu)} |`,
      );
    row('reference (bare smtp-server, drains and accepts)', a.reference);
    for (const m of data.layers)
      row('gateway, SMTP layer only (cluster, admission, IPC, hooks; null mail side)', m);
    if (a.gateway) {
      const g = a.gateway;
      row(
        "gateway without the sandbox's share (what a pod would spend)",
        g,
        (g.cpuSecPer1000 ?? NaN) - (g.sandboxCpuSecPer1000 ?? 0),
      );
      row('gateway + sandbox upstream (the whole tree)', g);
    }
    out.push('');
  }
  if (data.matrix.length) {
    const rounds = Math.max(...data.matrix.map((x) => x.results.length / 2));
    out.push(
      '### Scheduling policy and worker count (gateway only)',
      '',
      `Median of ${rounds} interleaved run(s) per cell; msg/s with its range.`,
      '',
      '| NODE_CLUSTER_SCHED_POLICY | SMTP_WORKERS | (a) msg/s | (a) p99 ms | (a) CPU s/1,000 | (b) msg/s | (b) banner p50 / p99 ms | (b) CPU s/1,000 |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const x of data.matrix) {
      const of = (id: string) => x.results.filter((m) => m.scenario === id && m.peak);
      const med = (list: Measurement[], pick: (m: Measurement) => number | undefined) => {
        const v = list
          .map(pick)
          .filter((n): n is number => n !== undefined && Number.isFinite(n))
          .sort((p, q) => p - q);
        return v.length ? v[Math.floor((v.length - 1) / 2)] : undefined;
      };
      const range = (list: Measurement[]) => {
        const v = list.map((m) => m.peak!.msgPerSec);
        return v.length > 1 ? ` (${f0(Math.min(...v))}–${f0(Math.max(...v))})` : '';
      };
      const a = of('a');
      const b = of('b');
      out.push(
        `| ${x.sched} | ${x.workers} | ${f0(med(a, (m) => m.peak!.msgPerSec))}${range(a)} | ${f2(med(a, (m) => m.peak!.latency.p99))} | ${f2(med(a, (m) => m.cpuSecPer1000))} | ${f0(med(b, (m) => m.peak!.msgPerSec))}${range(b)} | ${f0(med(b, (m) => m.peak!.banner.p50))} / ${f0(med(b, (m) => m.peak!.banner.p99))} | ${f2(med(b, (m) => m.cpuSecPer1000))} |`,
      );
    }
    out.push('');
  }
  for (const p of data.profiles) {
    out.push(`### CPU profile: ${p.label}`, '');
    if (p.flame) out.push(`![Flame graph of the SMTP workers, measured phase](${p.flame})`, '');
    for (const r of p.byRole) out.push(summaryMarkdown(r.summary, r.role, 12));
  }
  const notes = data.runs
    .flatMap((r) => [r.gateway, r.reference])
    .filter((m) => m?.failure || (m?.gatewayLogLines ?? 0) > 0);
  if (notes.length) {
    out.push('### Notes from the run', '');
    for (const m of notes)
      out.push(
        `- (${m!.scenario}) ${m!.server}: ${m!.failure ?? ''}${m!.gatewayLogLines ? ` ${m!.gatewayLogLines} gateway log lines at warn+ (${m!.gatewayLogSamples?.join('; ')})` : ''}`,
      );
    out.push('');
  }
  return out.join('\n');
}

export const BEGIN = '<!-- bench:begin (generated by bench/run.ts; edit outside these markers) -->';
export const END = '<!-- bench:end -->';

/** Replaces the generated section of the doc (or creates the doc around it). */
export async function updateDoc(path: string, section: string): Promise<void> {
  let doc: string;
  try {
    doc = await readFile(path, 'utf8');
  } catch {
    doc = `# Benchmarks\n\nRun: \`npm run bench\` (full, ~10 min) or \`node bench/run.ts --quick --scenario a\`.\n\n## Results\n\n${BEGIN}\n${END}\n`;
  }
  const i = doc.indexOf(BEGIN);
  const j = doc.indexOf(END);
  const block = `${BEGIN}\n${section}\n${END}`;
  doc =
    i >= 0 && j > i ? doc.slice(0, i) + block + doc.slice(j + END.length) : `${doc.trimEnd()}\n\n${block}\n`;
  await writeFile(path, doc);
}
