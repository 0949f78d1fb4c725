/**
 * `npm run bench` / `node bench/run.ts [--quick] [--scenario a,b,...] [--workers N]
 * [--sched rr|none] [--node-options '<flags for the gateway tree>'] [--env KEY=VALUE ...] [--merge results.json]
 * [--gateway-only] [--cert rsa|ec] [--write|--no-write]
 * [--sessions N] [--per-connection N] [--bytes N[k|m]] [--pdf] [--recipients N] [--duration S] [--rate N]
 * [--resume]`
 *
 * The load options shape `--scenario custom` (implied when any of them is given; unset
 * fields are (a)'s): `--per-connection` is the messages a session sends on one connection
 * (0 = reuse without limit, 1 = one message per new connection), `--duration` the
 * measured run in seconds, `--rate` a total msg/s to pace at (0 = closed loop), `--resume`
 * makes each session present the TLS session ticket of its previous connection.
 *
 * `--cert`: the key of the certificate both servers serve: RSA 2048 (default, what the chart's
 * cert-manager Certificate issues) or ECDSA P-256.
 *
 * Scenarios a–f run against the gateway and then the reference with the same client
 * settings; `sched` compares NODE_CLUSTER_SCHED_POLICY rr/none × SMTP_WORKERS 1/2 on
 * (a) and (b); `profile` runs (a) and (b) with --cpu-prof on the gateway tree and
 * summarises the profiles. Default: everything. The load stays on loopback; every
 * scenario has a hard cap. Writes docs/benchmarks.md (generated section) and
 * docs/benchmarks-latency.svg on a full run of everything, or with --write. `--merge` puts
 * the scenarios measured now into an earlier run's results.json (redo a disturbed one).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { latencyChart, type ChartRow } from './chart.ts';
import { HARD_FD_LIMIT, SOFT_FD_LIMIT } from './fd-limit.ts';
import { flameGraph } from './flamegraph.ts';
import { measure, measureStable, type GatewaySettings, type MeasureContext } from './measure.ts';
import { summarise } from './profile-summary.ts';
import type { BenchData, ProfileRun, ScenarioRun } from './bench-data.ts';
import { pct } from './format.ts';
import { oneLine, renderSection, updateDoc } from './report.ts';
import { customScenario, matrixScenarios, scenarios } from './scenarios.ts';
import { ALL, parseArgs } from './run-args.ts';
import { evaluateTargets, ratio } from './targets.ts';
import { measurePairs, pairLine } from './paired-phases.ts';
import { LOOPBACK_SOURCES, makeCertificate, REPO } from './servers.ts';

/** The last commit that touched src/ (what the gateway ran), + a note when src/ has local changes. */
function gitCommit(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO, encoding: 'utf8' }).trim();
    const head = git('log', '-1', '--format=%h', '--', 'src');
    return git('status', '--porcelain', '--', 'src') ? `${head} with local changes in src/` : head;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  // The docs are rewritten by a full run of everything, a merge into one, or --write.
  const writesDocs =
    opts.write ?? (!opts.quick && (!!opts.merge || ALL.every((x) => opts.selected.includes(x))));
  const started = Date.now();
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-bench-'));
  const cert = await makeCertificate(join(dataDir, 'tls'), opts.certKey);
  const sources = [...LOOPBACK_SOURCES];
  const gateway: GatewaySettings = {
    workers: opts.workers,
    sched: opts.sched,
    env: { ...opts.env, ...(opts.nodeOptions ? { NODE_OPTIONS: opts.nodeOptions } : {}) },
  };
  const base: MeasureContext = { dataDir, cert, sources, gateway, quick: opts.quick };
  const data: BenchData = {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    command: `node bench/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
    quick: opts.quick,
    machine: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, open files ${SOFT_FD_LIMIT}/${HARD_FD_LIMIT}, generator on the same cores`,
    commit: gitCommit(),
    gatewaySettings: `SMTP_WORKERS=${gateway.workers}, NODE_CLUSTER_SCHED_POLICY=${gateway.sched}, certificate ${opts.certKey === 'ec' ? 'ECDSA P-256' : 'RSA 2048'}${Object.entries(
      gateway.env ?? {},
    )
      .map(([k, v]) => `, ${k}=${v}`)
      .join('')}`,
    runs: [],
    matrix: [],
    layers: [],
    profiles: [],
  };
  console.log(`bench: data in ${dataDir}; ${data.machine}`);

  const selected = [
    ...scenarios(opts.quick).filter((x) => opts.selected.includes(x.id)),
    ...(opts.selected.includes('custom') ? [customScenario(opts.custom, opts.quick)] : []),
  ];
  for (const s of selected) {
    console.log(`\n(${s.id}) ${s.title}`);
    const g = await measureStable(s, 'gateway', base);
    console.log('  ' + oneLine(g));
    if (opts.gatewayOnly) continue; // tuning runs: no reference, no ratio, nothing written
    const halfRate = g.peak ? g.peak.msgPerSec / 2 : undefined;
    const r = await measureStable(s, 'reference', { ...base, ...(halfRate ? { halfRate } : {}) });
    console.log('  ' + oneLine(r));
    console.log('  ' + oneLine(g, r));
    const run: ScenarioRun = { scenario: { id: s.id, title: s.title }, gateway: g, reference: r };
    if (s.ratioPairs) {
      try {
        run.pairs = await measurePairs(s, base, {
          pairs: s.ratioPairs,
          seconds: s.pairSeconds ?? 8,
          onPair: (p, i) => console.log(`  ${pairLine(p, i)}`),
        });
        console.log(`  ratio, median of ${run.pairs.length} paired phases: ${pct(ratio(run))}`);
      } catch (err) {
        // The verdict falls back to the full runs' ratio, and says why.
        run.pairsFailure = (err as Error).message.split('\n')[0];
        console.log(`  paired phases FAILED: ${run.pairsFailure}`);
      }
    }
    data.runs.push(run);
  }

  if (opts.selected.includes('layers')) {
    // (a) against the gateway with the SMTP layer only (no MIME, no upstream): what the
    // cluster, admission, IPC and hooks cost before the Cakemail side does anything.
    console.log('\nlayers: (a) against the SMTP layer alone');
    const s = scenarios(opts.quick).find((x) => x.id === 'a')!;
    const m = await measureStable({ ...s, halfRatePhase: false, pollMetrics: false }, 'gateway', {
      ...base,
      gateway: { ...gateway, nullMailSide: true },
    });
    console.log('  ' + oneLine(m));
    data.layers.push(m);
  }

  if (opts.selected.includes('sched')) {
    // Repeated and interleaved: one run per configuration is within the noise of a
    // 2-core machine; the report shows medians and ranges.
    const repeats = opts.quick ? 1 : 3;
    console.log(`\nsched: NODE_CLUSTER_SCHED_POLICY × SMTP_WORKERS on (a) and (b), ${repeats} round(s)`);
    const configs = (['rr', 'none'] as const).flatMap((sched) =>
      [1, 2].map((workers) => ({ sched, workers })),
    );
    for (const c of configs) data.matrix.push({ ...c, results: [] });
    for (let round = 0; round < repeats; round++)
      for (const [i, c] of configs.entries())
        for (const s of matrixScenarios(opts.quick)) {
          const m = await measureStable(s, 'gateway', { ...base, gateway: { ...gateway, ...c } }, 1);
          console.log('  ' + oneLine(m));
          data.matrix[i]!.results.push(m);
        }
  }

  if (opts.selected.includes('profile')) {
    for (const s of matrixScenarios(opts.quick)) {
      const dir = join(dataDir, `profile-${s.id}`);
      await mkdir(dir, { recursive: true });
      const cpuProf = `--cpu-prof --cpu-prof-dir=${dir}`;
      const roles = new Map<number, string>();
      const m = await measure(s, 'gateway', {
        ...base,
        gateway: {
          ...gateway,
          env: { ...gateway.env, NODE_OPTIONS: `${opts.nodeOptions} ${cpuProf}`.trim() },
          sandboxEnv: { NODE_OPTIONS: cpuProf },
        },
        onGateway: (tree) => {
          roles.set(tree.primaryPid!, 'primary');
          roles.set(tree.roots[1]!, 'sandbox');
        },
      });
      console.log(`\nprofile (${s.id}): ` + oneLine(m));
      const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
      const groups = new Map<string, string[]>();
      for (const f of files) {
        const pid = Number(f.split('.')[3]);
        const role = roles.get(pid) ?? 'SMTP workers';
        groups.set(role, [...(groups.get(role) ?? []), join(dir, f)]);
      }
      const run: ProfileRun = {
        label: `(${s.id}) ${s.title}, ${m.settings}, measured phase only: ${oneLine(m).split(': ')[1]?.split(', latency')[0] ?? ''}`,
        byRole: [],
      };
      for (const role of ['SMTP workers', 'primary', 'sandbox']) {
        const list = groups.get(role);
        if (list?.length) run.byRole.push({ role, summary: summarise(list, 25, m.peakWindowUs) });
      }
      for (const r of run.byRole) {
        console.log(`  ${r.role}: top self time`);
        for (const c of r.summary.topSelf.slice(0, 10))
          console.log(`    ${c.pct.toFixed(1).padStart(5)} %  ${c.name}  ${c.where}`);
      }
      const workers = groups.get('SMTP workers');
      if (workers?.length) {
        const svg = flameGraph(workers, {
          title: `SMTP workers, (${s.id}) ${s.title}, measured phase`,
          windowUs: m.peakWindowUs,
        });
        const flame = join(dir, 'flame-workers.svg');
        await writeFile(flame, svg);
        console.log(`  flame graph: ${flame}`);
        if (writesDocs) {
          run.flame = `benchmarks-flame-${s.id}.svg`;
          await writeFile(join(REPO, 'docs', run.flame), svg);
        }
      }
      data.profiles.push(run);
      console.log(`  profiles kept in ${dir}`);
    }
  }

  // The gateway is started from src/ for every scenario: say so if src/ moved meanwhile.
  const endCommit = gitCommit();
  if (endCommit !== data.commit) data.commit = `${data.commit} → ${endCommit} (src/ changed during the run)`;
  if (opts.merge) {
    // Re-measured parts replace theirs in an earlier full run (a scenario disturbed by
    // other work on a shared machine can be redone without redoing everything).
    const base = JSON.parse(await readFile(opts.merge, 'utf8')) as BenchData;
    const ids = new Set(data.runs.map((r) => r.scenario.id));
    data.runs = [...base.runs.filter((r) => !ids.has(r.scenario.id)), ...data.runs].sort((x, y) =>
      x.scenario.id.localeCompare(y.scenario.id),
    );
    if (!opts.selected.includes('layers')) data.layers = base.layers;
    if (!opts.selected.includes('sched')) data.matrix = base.matrix;
    if (!opts.selected.includes('profile')) data.profiles = base.profiles;
    data.command = `${base.command} (${base.date}), then ${data.command} (${data.date})`;
    if (base.commit !== data.commit)
      data.commit = `${base.commit} (earlier run), ${data.commit} (re-measured part)`;
    data.date = base.date;
  }
  console.log('\nTargets:');
  for (const t of evaluateTargets(data))
    console.log(`  ${t.ok === undefined ? '?' : t.ok ? 'met   ' : 'MISSED'}  ${t.target}: ${t.measured}`);

  const json = join(dataDir, 'results.json');
  await writeFile(
    json,
    JSON.stringify(data, (k, v: unknown) => (k === 'latencySamples' ? undefined : v), 2),
  );
  if (writesDocs) {
    const rows: ChartRow[] = [];
    for (const r of data.runs) {
      for (const m of [r.reference, r.gateway])
        if (m?.peak) rows.push({ label: `(${r.scenario.id}) peak`, server: m.server, p: m.peak.latency });
      for (const m of [r.reference, r.gateway])
        if (m?.half)
          rows.push({
            label: `(${r.scenario.id}) at ${m.half.ratePerSec.toFixed(0)} msg/s`,
            server: m.server,
            p: m.half.latency,
          });
    }
    await writeFile(
      join(REPO, 'docs/benchmarks-latency.svg'),
      latencyChart(rows, 'End-of-DATA latency, gateway vs reference'),
    );
    await updateDoc(join(REPO, 'docs/benchmarks.md'), renderSection(data));
    console.log('\nwrote docs/benchmarks.md and docs/benchmarks-latency.svg');
  }
  console.log(`results: ${json}; took ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
  },
);
