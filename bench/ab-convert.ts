/**
 * `node bench/ab-convert.ts <other checkout>`: this tree's conversion and body serialisation
 * against another checkout's (a `git worktree` of the commit to compare with, its
 * node_modules linked), interleaved in one process: batches of 1,000 of (a)'s 5 KB messages
 * through `convertMessage` + `SubmitEmailBodies`, alternating between the two versions.
 *
 * Why interleaved: on the 2-core microVM of 2026-12-03 two runs of the same
 * `deliver-probe.ts` differed by up to 30 % (the host's speed drifts), which hides any
 * change under ~10 %. Alternating small batches in one process puts both versions under
 * the same drift; the ratio repeated within 2-3 %.
 */
import { resolve } from 'node:path';
import type * as ConvertModule from '../src/mail/convert.ts';
import type * as BodiesModule from '../src/cakemail/email-body.ts';
import type * as PipelineModule from '../src/delivery/pipeline.ts';
import { convertOptions } from '../src/delivery/pipeline.ts';
import { loadConfig } from '../src/config/load.ts';
import { messageTemplate } from './messages.ts';

type Convert = typeof ConvertModule;
type Bodies = typeof BodiesModule;
type Pipeline = typeof PipelineModule;
interface Version {
  convert: Convert;
  bodies: Bodies;
  pipeline: Pipeline;
}

const other = process.argv[2];
if (!other) {
  console.error('usage: node bench/ab-convert.ts <path of the other checkout>');
  process.exit(2);
}
const load = async (root: string): Promise<Version> => ({
  convert: (await import(resolve(root, 'src/mail/convert.ts'))) as Convert,
  bodies: (await import(resolve(root, 'src/cakemail/email-body.ts'))) as Bodies,
  pipeline: (await import(resolve(root, 'src/delivery/pipeline.ts'))) as Pipeline,
});
const versions = [await load(other), await load(new URL('..', import.meta.url).pathname)];

const tpl = messageTemplate(
  { bytes: 5 * 1024, pdf: false, from: 'demo@cakemail.test', to: ['a@example.com'] },
  'ab',
);
// The defaults' options for both versions (the other checkout may predate convertOptions).
const opts = convertOptions(loadConfig({}));
const messages = Array.from({ length: 1000 }, (_, n) => Buffer.concat([tpl.head(n), tpl.body]));

/** ns a message for one batch. */
async function batch(v: Version): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (const raw of messages) {
    const c = await v.convert.convertMessage(raw, opts);
    new v.bodies.SubmitEmailBodies(v.pipeline.submitBody(c, 'sender-1')).for('rcpt@example.com');
  }
  return Number(process.hrtime.bigint() - t0) / messages.length;
}

const WARMUP = 10;
const ROUNDS = 60;
const sums = [0, 0];
for (let r = 0; r < ROUNDS; r++) {
  // Neither version always goes first.
  for (const i of r % 2 ? [1, 0] : [0, 1]) {
    const ns = await batch(versions[i]!);
    if (r >= WARMUP) sums[i]! += ns;
  }
}
const [a, b] = sums.map((s) => s / (ROUNDS - WARMUP) / 1000) as [number, number];
console.log(
  `convert + body, 5 KB: other ${a.toFixed(2)} µs, this tree ${b.toFixed(2)} µs a message, this/other ${(b / a).toFixed(3)}`,
);
