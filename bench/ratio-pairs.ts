/**
 * `node bench/ratio-pairs.ts [--scenario a|b] [--pairs 11] [--seconds 8]`: the
 * gateway/reference msg/s ratio of (a) or (b) from many short paired phases instead of a
 * few long rounds on fresh processes. Both servers are started once and stay up (the one
 * not loaded sits idle); each is warmed up as bench/run.ts does; then the one generator
 * loads them in turn, `--seconds` each, the order alternating from pair to pair (G R, R G,
 * ...). Prints each pair's ratio and the median.
 *
 * Why: bench/run.ts's rounds measure each server for 15 s on fresh processes about a
 * minute apart, and on the 2-vCPU microVM of 2026-12-03 the reference (one thread) moved by
 * up to 45 % between rounds while the gateway moved by 20 %, so the round ratios of one
 * run spread 40-53 %. Two phases seconds apart share more of the host's drift.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_USER } from '../src/sandbox/server.ts';
import { GeneratorProc } from './generator-proc.ts';
import type { RunResult, RunSpec } from './load-generator.ts';
import { numberOption } from './probe-args.ts';
import { cpuSeconds, treePids, waitForQuiet } from './proc-stats.ts';
import { scenarios } from './scenarios.ts';
import { makeCertificate, startGateway, startReference, type ServerTree } from './servers.ts';
import { quantile } from './stats.ts';

const args = process.argv.slice(2);
const id = args.includes('--scenario') ? args[args.indexOf('--scenario') + 1] : 'a';
const found = scenarios(false).find((x) => x.id === id && x.ratioRounds !== undefined);
if (!found) {
  console.error('usage: node bench/ratio-pairs.ts [--scenario a|b] [--pairs 11] [--seconds 8]');
  process.exit(2);
}
const s = found;
const PAIRS = numberOption(args, '--pairs', 11);
const SECONDS = numberOption(args, '--seconds', 8);

const dataDir = await mkdtemp(join(tmpdir(), 'ratio-pairs-'));
const cert = await makeCertificate(dataDir);
const sources = Array.from({ length: 40 }, (_, i) => `127.0.0.${i + 2}`);
const fds = s.load.sessions + 2048;
const servers: Record<'gateway' | 'reference', ServerTree | undefined> = {
  gateway: undefined,
  reference: undefined,
};
const gen = await GeneratorProc.start(s.load.sessions + 1024);

function spec(tree: ServerTree, durationMs: number, maxMessages: number, tag: string): RunSpec {
  return {
    host: '127.0.0.1',
    port: tree.smtpPort,
    sources,
    user: DEMO_USER.username,
    pass: DEMO_USER.password,
    from: DEMO_USER.senderEmail,
    ...s.load,
    durationMs,
    maxMessages,
    tag,
  };
}

/** One closed-loop phase on `tree`: msg/s and the tree's CPU ms a message. */
async function phase(tree: ServerTree, durationMs: number, maxMessages: number, tag: string) {
  const pids = treePids(tree.roots);
  const cpu0 = cpuSeconds(pids);
  const { result } = await gen.request<{ result: RunResult }>(
    { type: 'run', spec: spec(tree, durationMs, maxMessages, tag) },
    'result',
    durationMs + 30_000,
  );
  if (result.errors > 0)
    throw new Error(`${tree.kind}: ${result.errors} errors (${result.errorSamples.join('; ')})`);
  const msgPerSec = result.messages / (result.elapsedMs / 1000);
  return { msgPerSec, cpuMs: ((cpuSeconds(treePids(tree.roots)) - cpu0) * 1000) / result.messages };
}

try {
  await waitForQuiet(0.3, 60_000);
  servers.gateway = await startGateway({
    dataDir: join(dataDir, 'gateway'),
    cert,
    workers: 2,
    sched: 'rr',
    fds,
  });
  servers.reference = await startReference(cert, 0, fds);
  for (const k of ['gateway', 'reference'] as const)
    await phase(servers[k]!, s.warmup.durationMs, s.warmup.maxMessages, `${k}-warm`);
  const ratios: number[] = [];
  console.log(`(${s.id}) ${s.title}: ${PAIRS} pairs of ${SECONDS} s phases`);
  for (let pair = 1; pair <= PAIRS; pair++) {
    const order = pair % 2 === 1 ? (['gateway', 'reference'] as const) : (['reference', 'gateway'] as const);
    const r: Partial<Record<'gateway' | 'reference', { msgPerSec: number; cpuMs: number }>> = {};
    for (const k of order) r[k] = await phase(servers[k]!, SECONDS * 1000, 10_000_000, `${k}-${pair}`);
    const ratio = r.gateway!.msgPerSec / r.reference!.msgPerSec;
    ratios.push(ratio);
    console.log(
      `pair ${String(pair).padStart(2)} (${order[0][0]}${order[1][0]}): gateway ${r.gateway!.msgPerSec.toFixed(0)} msg/s ` +
        `(${r.gateway!.cpuMs.toFixed(3)} CPU ms a message), reference ${r.reference!.msgPerSec.toFixed(0)} ` +
        `(${r.reference!.cpuMs.toFixed(3)}), ratio ${(ratio * 100).toFixed(1)} %`,
    );
  }
  const sorted = [...ratios].sort((x, y) => x - y);
  console.log(
    `median ${(quantile(sorted, 0.5) * 100).toFixed(1)} % of ${PAIRS} pairs (range ${(sorted[0]! * 100).toFixed(1)}-${(sorted.at(-1)! * 100).toFixed(1)} %)`,
  );
} finally {
  await gen.stop();
  for (const t of Object.values(servers)) await t?.stop();
  await rm(dataDir, { recursive: true, force: true });
}
