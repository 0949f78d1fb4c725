/**
 * `node bench/ab-gateway.ts <other checkout> [--rounds 5] [--seconds 15]`: this tree's whole
 * gateway (primary, workers, sandbox) against another checkout's, both loaded AT THE SAME
 * TIME with (a)'s load (50 sessions, 5 KB, 1 recipient), each by its own generator. Prints,
 * per round and as the median, each tree's CPU a message over the same seconds.
 *
 * Why at the same time: on the microVM of 2026-12-03 gateway-only (a) runs minutes apart
 * measured the same build at 4,007-5,087 msg/s, so a change of a few percent to the SMTP
 * side (which ab-convert.ts cannot see) is invisible run to run. Two trees measured over
 * the same seconds share whatever the host does in them. Each tree gets about half of the
 * two cores, so msg/s is not comparable with bench/run.ts's; CPU a message is the figure.
 * The A/A check (`node bench/ab-gateway.ts /work/main` from /work/main) shows what is noise.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type * as ServersModule from './servers.ts';
import { GeneratorProc } from './generator-proc.ts';
import type { RunResult, RunSpec } from './load-generator.ts';
import { cpuSeconds, treePids } from './proc-stats.ts';
import { makeCertificate, startGateway, type ServerTree } from './servers.ts';

const args = process.argv.slice(2);
const other = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
if (!other) {
  console.error('usage: node bench/ab-gateway.ts <path of the other checkout> [--rounds 5] [--seconds 15]');
  process.exit(2);
}
const ROUNDS = option('--rounds', 5);
const SECONDS = option('--seconds', 15);
const SESSIONS = 50;

const dataDir = await mkdtemp(join(tmpdir(), 'ab-gateway-'));
const cert = await makeCertificate(dataDir);
const otherServers = (await import(resolve(other, 'bench/servers.ts'))) as typeof ServersModule;
const settings = { cert, workers: 2, sched: 'rr' as const };
for (const d of ['other', 'this']) await mkdir(join(dataDir, d));
const trees: ServerTree[] = [
  await otherServers.startGateway({ ...settings, dataDir: join(dataDir, 'other') }),
  await startGateway({ ...settings, dataDir: join(dataDir, 'this') }),
];
const generators = [await GeneratorProc.start(SESSIONS + 256), await GeneratorProc.start(SESSIONS + 256)];
// Each generator its own half of 127.0.0.x, so the two never share ephemeral ports.
const sources = (half: number) => Array.from({ length: 20 }, (_, i) => `127.0.0.${2 + half * 20 + i}`);

function spec(i: number, seconds: number, tag: string): RunSpec {
  return {
    host: '127.0.0.1',
    port: trees[i]!.smtpPort,
    sources: sources(i),
    user: 'demo@cakemail.test',
    pass: 'demo-password',
    from: 'demo@cakemail.test',
    sessions: SESSIONS,
    messagesPerConnection: 0,
    messageBytes: 5 * 1024,
    pdf: false,
    recipients: 1,
    maxMessages: 10_000_000,
    durationMs: seconds * 1000,
    ratePerSec: 0,
    tag,
  };
}

/** Both loads at once; each tree's messages and CPU seconds over the same interval. */
async function both(seconds: number, tag: string): Promise<Array<{ messages: number; cpu: number }>> {
  const pids = trees.map((t) => treePids(t.roots));
  const before = pids.map((p) => cpuSeconds(p));
  const results = await Promise.all(
    generators.map((g, i) =>
      g.request<{ result: RunResult }>(
        { type: 'run', spec: spec(i, seconds, `${tag}-${i}`) },
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
try {
  await both(10, 'warmup'); // JIT and heap sizing, as bench/run.ts's warm-up
  const ratios: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const [a, b] = (await both(SECONDS, `r${round}`)) as [
      { messages: number; cpu: number },
      { messages: number; cpu: number },
    ];
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
  for (const g of generators) await g.stop();
  for (const t of trees) await t.stop();
  await rm(dataDir, { recursive: true, force: true });
}
