/**
 * `node bench/ab-sandbox.ts <other checkout>`: this tree's sandbox (fast mode, as the
 * benchmarks run it) against another checkout's, each in its own process, fed the same
 * POST /v2/emails (a's 5 KB message, 25 at a time over keep-alive, as one worker sends)
 * in alternating batches; prints each server's CPU a request from /proc. Interleaved for
 * the reason ab-convert.ts gives: the host's drift hides small changes between runs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CakemailClient } from '../src/cakemail/client.ts';
import { SubmitEmailBodies } from '../src/cakemail/email-body.ts';
import { loadConfig } from '../src/config/load.ts';
import { convertOptions, submitBody } from '../src/delivery/pipeline.ts';
import { convertMessage } from '../src/mail/convert.ts';
import { DEMO_USER } from '../src/sandbox/server.ts';
import { messageTemplate } from './messages.ts';
import { cpuSeconds } from './proc-stats.ts';
import { startSandbox, stopChild } from './servers.ts';

const other = process.argv[2];
if (!other) {
  console.error('usage: node bench/ab-sandbox.ts <path of the other checkout>');
  process.exit(2);
}
const dataDir = await mkdtemp(join(tmpdir(), 'ab-sandbox-'));
const servers = [
  await startSandbox(dataDir, {}, resolve(other)),
  await startSandbox(dataDir, {}, new URL('..', import.meta.url).pathname),
];

const tpl = messageTemplate(
  { bytes: 5 * 1024, pdf: false, from: DEMO_USER.senderEmail, to: ['a@example.com'] },
  'ab',
);
const converted = await convertMessage(
  Buffer.concat([tpl.head(1), tpl.body]),
  convertOptions(loadConfig({})),
);

/** The gateway's own API client, 25 connections as one worker of (a) keeps busy. */
async function client(url: string) {
  const api = new CakemailClient({ baseUrl: url, timeoutMs: 10_000, connections: 25 });
  const token = (await api.passwordGrant(DEMO_USER.username, DEMO_USER.password)).access_token;
  const sender = (await api.listSenders(token)).find((s) => s.confirmed)?.id ?? '';
  return { api, token, bodies: new SubmitEmailBodies(submitBody(converted, sender)) };
}
const clients = [await client(servers[0]!.url), await client(servers[1]!.url)];

let n = 0;
async function batch(i: number, count: number): Promise<void> {
  const { api, token, bodies } = clients[i]!;
  let left = count;
  // submitEmailBody resolves only for data.status "queued": anything else throws.
  await Promise.all(
    Array.from({ length: 25 }, async () => {
      while (left-- > 0) await api.submitEmailBody(token, bodies.for(`r${n++}@example.com`));
    }),
  );
}

const BATCH = 2000;
const WARMUP = 4;
const ROUNDS = 24;
const cpu = [0, 0];
for (let r = 0; r < ROUNDS; r++) {
  for (const i of r % 2 ? [1, 0] : [0, 1]) {
    const pid = servers[i]!.child.pid ?? 0;
    const before = cpuSeconds([pid]);
    await batch(i, BATCH);
    if (r >= WARMUP) cpu[i]! += cpuSeconds([pid]) - before;
  }
}
const [a, b] = cpu.map((s) => (s * 1e6) / ((ROUNDS - WARMUP) * BATCH)) as [number, number];
console.log(
  `sandbox CPU a request: other ${a.toFixed(1)} µs, this tree ${b.toFixed(1)} µs, this/other ${(b / a).toFixed(3)}`,
);
for (const c of clients) await c.api.close();
for (const s of servers) await stopChild(s.child);
await rm(dataDir, { recursive: true, force: true });
process.exit(0);
