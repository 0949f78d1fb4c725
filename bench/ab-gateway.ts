/**
 * `node bench/ab-gateway.ts <other checkout> [--rounds 5] [--seconds 15] [--scenario a|b]`:
 * this tree's whole gateway (primary, workers, sandbox) against another checkout's, both
 * loaded AT THE SAME TIME with (a)'s load (50 sessions, 5 KB, 1 recipient; `--scenario b`:
 * one message per new TLS connection), each by its own generator. Prints, per round and as
 * the median, each tree's CPU a message over the same seconds.
 *
 * Why at the same time: on the microVM of 2026-12-03 gateway-only (a) runs minutes apart
 * measured the same build at 4,007-5,087 msg/s, so a change of a few percent to the SMTP
 * side (which ab-convert.ts cannot see) is invisible run to run. Two trees measured over
 * the same seconds share whatever the host does in them. Each tree gets about half of the
 * two cores, so msg/s is not comparable with bench/run.ts's; CPU a message is the figure.
 * The A/A check (`node bench/ab-gateway.ts /work/main` from /work/main) shows what is noise.
 * `--env KEY=VALUE` (repeatable) sets a gateway variable in both trees, `--this-env KEY=VALUE`
 * in this tree only: against its own checkout, that A/Bs a setting in situ
 * (`node bench/ab-gateway.ts . --this-env LOG_LEVEL=info`).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type * as ServersModule from './servers.ts';
import { GeneratorProc } from './generator-proc.ts';
import { envOptions, numberOption, stringOption } from './probe-args.ts';
import type { RunResult, RunSpec } from './load-generator.ts';
import { cpuSeconds, treePids } from './proc-stats.ts';
import { DEMO_USER } from '../src/sandbox/server.ts';
import { scenarios } from './scenarios.ts';
import { LOOPBACK_SOURCES, makeCertificate, startGateway, type ServerTree } from './servers.ts';

const args = process.argv.slice(2);
const other = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
const option = (name: string, fallback: number) => numberOption(args, name, fallback);
if (!other) {
  console.error(
    'usage: node bench/ab-gateway.ts <path of the other checkout> [--rounds 5] [--seconds 15] [--scenario a|b] [--env K=V] [--this-env K=V]',
  );
  process.exit(2);
}
const ROUNDS = option('--rounds', 5);
const SECONDS = option('--seconds', 15);
/** Gateway settings of both trees, and of this tree only. */
const BOTH_ENV = envOptions(args, '--env');
const THIS_ENV = { ...BOTH_ENV, ...envOptions(args, '--this-env') };
const WARMUP_SECONDS = 8;
const SCENARIO = stringOption(args, '--scenario', 'a');
if (SCENARIO !== 'a' && SCENARIO !== 'b') {
  console.error('--scenario takes a or b');
  process.exit(2);
}
/** The scenario's load, bounded by time only. */
const LOAD = scenarios(false).find((s) => s.id === SCENARIO)!.load;

const dataDir = await mkdtemp(join(tmpdir(), 'ab-gateway-'));
const cert = await makeCertificate(dataDir);
const otherServers = (await import(resolve(other, 'bench/servers.ts'))) as typeof ServersModule;
const settings = { cert, workers: 2, sched: 'rr' as const };
for (const d of ['other', 'this']) await mkdir(join(dataDir, d));
const generators = [
  await GeneratorProc.start(LOAD.sessions + 256),
  await GeneratorProc.start(LOAD.sessions + 256),
];
// Each generator its own half of 127.0.0.x, so the two never share ephemeral ports.
const sources = (half: number) => LOOPBACK_SOURCES.slice(half * 20, half * 20 + 20);
/** [other, this]; fresh each round, started in turn in alternate orders. */
let trees: ServerTree[] = [];

async function startTrees(otherFirst: boolean): Promise<void> {
  const start = [
    () => otherServers.startGateway({ ...settings, dataDir: join(dataDir, 'other'), env: BOTH_ENV }),
    () => startGateway({ ...settings, dataDir: join(dataDir, 'this'), env: THIS_ENV }),
  ];
  trees = [];
  for (const i of otherFirst ? [0, 1] : [1, 0]) trees[i] = await start[i]!();
}

function spec(i: number, half: number, seconds: number, tag: string): RunSpec {
  return {
    host: '127.0.0.1',
    port: trees[i]!.smtpPort,
    sources: sources(half),
    user: DEMO_USER.username,
    pass: DEMO_USER.password,
    from: DEMO_USER.senderEmail,
    ...LOAD,
    maxMessages: 10_000_000,
    durationMs: seconds * 1000,
    tag,
  };
}

/** Both loads at once; each tree's messages and CPU seconds over the same interval. */
async function both(
  seconds: number,
  tag: string,
  swap: boolean,
): Promise<Array<{ messages: number; cpu: number }>> {
  const pids = trees.map((t) => treePids(t.roots));
  const before = pids.map((p) => cpuSeconds(p));
  // Generator and source addresses swap sides with `swap`, so neither tree always has the same.
  const results = await Promise.all(
    [0, 1].map((i) =>
      generators[swap ? 1 - i : i]!.request<{ result: RunResult }>(
        { type: 'run', spec: spec(i, swap ? 1 - i : i, seconds, `${tag}-${i}`) },
        'result',
        seconds * 1000 + 30_000,
      ),
    ),
  );
  return results.map(({ result }, i) => {
    if (result.errors > 0)
      throw new Error(`tree ${i}: ${result.errors} errors (${result.errorSamples.join('; ')})`);
    return { messages: result.messages, cpu: cpuSeconds(pids[i]!) - before[i]! };
  });
}

const us = (r: { messages: number; cpu: number }) => (r.cpu * 1e6) / r.messages;
const stopTrees = async () => {
  for (const t of trees) await t?.stop();
  trees = [];
};
try {
  const ratios: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    // Fresh trees each round, the other checkout started first in odd rounds.
    await startTrees(round % 2 === 1);
    const swap = round % 2 === 0;
    await both(WARMUP_SECONDS, `w${round}`, swap); // JIT and heap sizing, as bench/run.ts's warm-up
    const [a, b] = (await both(SECONDS, `r${round}`, swap)) as [
      { messages: number; cpu: number },
      { messages: number; cpu: number },
    ];
    await stopTrees();
    ratios.push(us(b) / us(a));
    console.log(
      `round ${round}: other ${us(a).toFixed(0)} µs a message (${(a.messages / SECONDS).toFixed(0)} msg/s), ` +
        `this tree ${us(b).toFixed(0)} µs (${(b.messages / SECONDS).toFixed(0)} msg/s), this/other ${(us(b) / us(a)).toFixed(3)}`,
    );
  }
  const sorted = [...ratios].sort((x, y) => x - y);
  console.log(
    `tree CPU a message, this/other: median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(3)} of ${ROUNDS} rounds`,
  );
} finally {
  await stopTrees();
  for (const g of generators) await g.stop();
  await rm(dataDir, { recursive: true, force: true });
}
