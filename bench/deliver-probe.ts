/**
 * What the Cakemail side costs per message without the SMTP layer and without four other
 * busy processes on the same two cores: `pipeline.deliver()` called in a loop, as many at
 * a time as (a)'s sessions on one worker, against the sandbox in its own process. CPU per
 * message is this process's (user + system) only.
 *
 * In situ the same work costs about twice as much (docs/benchmarks.md). On the earlier
 * hosts this figure moved by 2-3 % between runs where a gateway run moved by 15-30 %; on a
 * host whose speed drifts (the microVM of 2026-12-03: up to 30 %), compare two versions
 * with the interleaved bench/ab-convert.ts and bench/ab-sandbox.ts instead.
 *
 * CLI: `node bench/deliver-probe.ts [messages=20000] [--bytes 5120] [--pdf] [--recipients 1]`
 * (`--pdf`: a text part and a PDF attachment, like scenario (d)); the
 * sandbox also prints its CPU a request, and SANDBOX_NODE_OPTIONS (e.g. `--cpu-prof`) is
 * passed to its process alone.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCakemailSide } from '../src/cakemail/index.ts';
import { loadConfig } from '../src/config/load.ts';
import { createLogger } from '../src/log.ts';
import { ReplicatedLedger } from '../src/smtp/replicated-ledger.ts';
import { messageTemplate } from './messages.ts';
import { numberOption } from './probe-args.ts';
import { cpuSeconds } from './proc-stats.ts';
import { startSandbox, stopChild } from './servers.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => numberOption(args, name, fallback);
// The count is the one bare number (not the value of an option).
const messages = Number(args.find((a, i) => /^\d+$/.test(a) && !args[i - 1]?.startsWith('--')) ?? 20_000);
const bytes = option('--bytes', 5 * 1024);
const recipients = option('--recipients', 1);
const pdf = args.includes('--pdf');
/** (a): 50 sessions over 2 workers. */
const CONCURRENCY = 25;
/** Enough for the JIT to settle; ~15 MB of messages when they are large. */
const WARMUP = Math.min(3_000, Math.max(50, Math.round(15e6 / bytes)));

const dataDir = await mkdtemp(join(tmpdir(), 'deliver-probe-'));
// SANDBOX_NODE_OPTIONS: flags for the sandbox's process alone (e.g. --cpu-prof to profile it).
const sandboxOptions = process.env.SANDBOX_NODE_OPTIONS;
const sandbox = await startSandbox(dataDir, sandboxOptions ? { NODE_OPTIONS: sandboxOptions } : {});

const config = loadConfig({ ...process.env, CAKEMAIL_API_URL: sandbox.url, LOG_LEVEL: 'warn' });
const log = createLogger({ level: 'warn', format: 'json', role: 'tool' });
const side = createCakemailSide(config, {
  authKey: Buffer.alloc(32, 7),
  ledger: new ReplicatedLedger(() => {}), // a worker's ledger, nobody to replicate to
  log,
});
const ctx = { sessionId: 'probe', remoteAddress: '127.0.0.1', log };
const from = 'demo@cakemail.test';
const account = await side.authenticator.authenticate(from, 'demo-password', ctx);
const sender = await side.pipeline.checkSender(account, from, ctx);
const rcpts = Array.from({ length: recipients }, (_, i) => `rcpt${i + 1}@example.com`);
const tpl = messageTemplate({ bytes, pdf, from, to: rcpts }, 'probe');

let sent = 0;
async function run(count: number): Promise<void> {
  let started = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (started++ < count) {
        const n = sent++;
        const raw = Buffer.concat([tpl.head(n), tpl.body]);
        // Distinct recipients per message: the ledger never skips one as a duplicate.
        const rcptTo = rcpts.map((r) => `${n}.${r}`);
        await side.pipeline.deliver({ account, mailFrom: from, rcptTo, sender, raw }, ctx);
      }
    }),
  );
}

await run(WARMUP);
const sandboxPid = sandbox.child.pid ?? 0;
const sandbox0 = cpuSeconds([sandboxPid]);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await run(messages);
const cpu = process.cpuUsage(cpu0);
const sandboxCpu = cpuSeconds([sandboxPid]) - sandbox0;
const seconds = (performance.now() - t0) / 1000;
console.log(
  `deliver(): ${messages} messages (${bytes} bytes, ${recipients} recipient(s)) in ${seconds.toFixed(2)} s, ` +
    `${(messages / seconds).toFixed(0)}/s; CPU ${((cpu.user + cpu.system) / messages).toFixed(1)} µs a message ` +
    `(user ${(cpu.user / messages).toFixed(1)}, system ${(cpu.system / messages).toFixed(1)}); ` +
    // Clock ticks (10 ms): meaningful over thousands of requests, not a few.
    `sandbox ${((sandboxCpu * 1e6) / (messages * recipients)).toFixed(1)} µs a request`,
);
await side.close();
await stopChild(sandbox.child);
await rm(dataDir, { recursive: true, force: true });
process.exit(0);
