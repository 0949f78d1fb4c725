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
import { Pool } from 'undici';
import { SubmitEmailBodies } from '../src/cakemail/email-body.ts';
import { submitBody } from '../src/delivery/pipeline.ts';
import { convertMessage } from '../src/mail/convert.ts';
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
  { bytes: 5 * 1024, pdf: false, from: 'demo@cakemail.test', to: ['a@example.com'] },
  'ab',
);
const converted = await convertMessage(Buffer.concat([tpl.head(1), tpl.body]), {
  defaultType: 'transactional',
  maxDepth: 20,
  maxParts: 200,
  maxHeaderBytes: 256 * 1024,
  hostname: 'gateway.test',
});

async function client(url: string) {
  const pool = new Pool(url, { connections: 25 });
  const t = await pool.request({
    path: '/token',
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=password&username=demo%40cakemail.test&password=demo-password',
  });
  const token = ((await t.body.json()) as { access_token: string }).access_token;
  const s = await pool.request({
    path: '/brands/default/senders',
    method: 'GET',
    headers: { authorization: `Bearer ${token}` },
  });
  const senders = ((await s.body.json()) as { data: { id: string; confirmed: boolean }[] }).data;
  const sender = senders.find((x) => x.confirmed)?.id ?? '';
  return { pool, token, bodies: new SubmitEmailBodies(submitBody(converted, sender)) };
}
const clients = [await client(servers[0]!.url), await client(servers[1]!.url)];

let n = 0;
async function batch(i: number, count: number): Promise<void> {
  const { pool, token, bodies } = clients[i]!;
  let left = count;
  await Promise.all(
    Array.from({ length: 25 }, async () => {
      while (left-- > 0) {
        const r = await pool.request({
          path: '/v2/emails',
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: bodies.for(`r${n++}@example.com`),
        });
        const answer = (await r.body.json()) as { data?: { status?: string } };
        if (answer.data?.status !== 'queued') throw new Error(`not queued: ${JSON.stringify(answer)}`);
      }
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
for (const c of clients) await c.pool.close();
for (const s of servers) await stopChild(s.child);
await rm(dataDir, { recursive: true, force: true });
process.exit(0);
