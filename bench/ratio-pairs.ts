/**
 * `node bench/ratio-pairs.ts [--scenario a|b] [--pairs 11] [--seconds 8]`: the ratio
 * target of (a) or (b) alone, as `npm run bench` measures it (bench/paired-phases.ts:
 * gateway and reference kept up, loaded in turn in short phases, the order alternating).
 * Prints each pair and the median; writes nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pct } from './format.ts';
import { measurePairs, medianPairRatio, pairLine, pairRatio } from './paired-phases.ts';
import { numberOption, stringOption } from './probe-args.ts';
import { scenarios } from './scenarios.ts';
import { LOOPBACK_SOURCES, makeCertificate } from './servers.ts';

const args = process.argv.slice(2);
const id = stringOption(args, '--scenario', 'a');
const s = scenarios(false).find((x) => x.id === id && x.ratioPairs !== undefined);
if (!s) {
  console.error('usage: node bench/ratio-pairs.ts [--scenario a|b] [--pairs 11] [--seconds 8]');
  process.exit(2);
}
const pairs = numberOption(args, '--pairs', s.ratioPairs!);
const seconds = numberOption(args, '--seconds', s.pairSeconds!);

const dataDir = await mkdtemp(join(tmpdir(), 'ratio-pairs-'));
try {
  const cert = await makeCertificate(join(dataDir, 'tls'));
  const sources = [...LOOPBACK_SOURCES];
  console.log(`(${s.id}) ${s.title}: ${pairs} pairs of ${seconds} s phases`);
  const measured = await measurePairs(
    s,
    { dataDir, cert, sources, gateway: { workers: 2, sched: 'rr' } },
    {
      pairs,
      seconds,
      onPair: (p, i) => console.log(pairLine(p, i)),
    },
  );
  const sorted = measured.map(pairRatio).sort((x, y) => x - y);
  console.log(
    `median ${pct(medianPairRatio(measured), 1)} of ${measured.length} pairs (${pct(sorted[0], 1)}-${pct(sorted.at(-1), 1)})`,
  );
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
