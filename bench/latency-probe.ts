/**
 * `node bench/latency-probe.ts [msg/s] [--env KEY=VALUE ...]`: where the end-of-DATA
 * latency goes at a fixed rate (scenario (a)'s load, paced). Prints the client's
 * percentiles beside the gateway's own histograms over the same run (from /metrics,
 * before and after): smtp_data_processing_seconds (the worker's end of DATA to its reply),
 * smtp_data_added_latency_seconds (the same minus the wait on Cakemail) and
 * cakemail_api_request_duration_seconds{endpoint="emails"} (one POST). A tail the
 * client sees but the worker does not is outside the pipeline: sockets, TLS, scheduling.
 * A tuning aid for the half-rate target of `npm run bench`.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GeneratorProc } from './generator-proc.ts';
import type { RunResult, RunSpec } from './load-generator.ts';
import { probeArgs } from './probe-args.ts';
import { LOOPBACK_SOURCES, makeCertificate, startGateway } from './servers.ts';
import { histogramBuckets, observedBetween } from './histogram.ts';
import { percentiles } from './stats.ts';

const { count: rate, env } = probeArgs(process.argv.slice(2), 600);

function describe(name: string, before: string, after: string, labels = ''): string {
  const o = observedBetween(histogramBuckets(before, name, labels), histogramBuckets(after, name, labels));
  const cells = o.shares
    .filter(([b]) => b <= 0.1)
    .map(([b, share]) => `≤${b * 1000} ms ${(share * 100).toFixed(2)} %`);
  return `${o.count} observed, p99 ≈ ${(o.quantile(0.99) * 1000).toFixed(2)} ms: ${cells.join(', ')}`;
}

const dataDir = await mkdtemp(join(tmpdir(), 'gw-latency-'));
const cert = await makeCertificate(join(dataDir, 'tls'));
const tree = await startGateway({ dataDir, cert, workers: 2, sched: 'rr', env });
const gen = await GeneratorProc.start(2048);
const metrics = async () => (await fetch(`http://127.0.0.1:${tree.httpPort}/metrics`)).text();
try {
  const spec: RunSpec = {
    host: '127.0.0.1',
    port: tree.smtpPort,
    sources: [...LOOPBACK_SOURCES],
    user: 'demo@cakemail.test',
    pass: 'demo-password',
    from: 'demo@cakemail.test',
    sessions: 50,
    messagesPerConnection: 0,
    messageBytes: 5 * 1024,
    pdf: false,
    recipients: 1,
    maxMessages: 1_000_000,
    durationMs: 8_000,
    ratePerSec: 0,
    tag: `latency-probe-${Date.now()}`,
  };
  const run = (s: RunSpec) =>
    gen
      .request<{ result: RunResult }>({ type: 'run', spec: s }, 'result', s.durationMs + 30_000)
      .then((x) => x.result);
  await run(spec); // warm-up, closed loop
  const before = await metrics();
  const r = await run({ ...spec, ratePerSec: rate, durationMs: 15_000, tag: `${spec.tag}-paced` });
  const after = await metrics();
  const p = percentiles(r.latencyMs);
  const over5 = r.latencyMs.filter((x) => x > 5).length / Math.max(1, r.latencyMs.length);
  console.log(
    `client at ${rate} msg/s: ${r.messages} messages, p50 ${p.p50.toFixed(2)} / p99 ${p.p99.toFixed(2)} / p99.9 ${p.p999.toFixed(2)} ms, ${(over5 * 100).toFixed(2)} % over 5 ms, ${r.errors} errors`,
  );
  console.log(`worker, end of DATA → reply: ${describe('smtp_data_processing_seconds', before, after)}`);
  console.log(`worker, added by the gateway: ${describe('smtp_data_added_latency_seconds', before, after)}`);
  console.log(
    `POST /v2/emails: ${describe('cakemail_api_request_duration_seconds', before, after, 'endpoint="emails"')}`,
  );
} finally {
  await gen.stop();
  await tree.stop();
}
