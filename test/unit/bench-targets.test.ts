// The ratio targets' verdict: the median paired phase when a run has them, the full runs'
// ratio when it has none (a run whose pairs failed says so instead of passing silently).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ScenarioRun } from '../../bench/bench-data.ts';
import type { Measurement } from '../../bench/measure.ts';
import { medianPairRatio, type PairedPhase, type RatioPair } from '../../bench/paired-phases.ts';
import { ratio, ratioText } from '../../bench/targets.ts';

const phase = (msgPerSec: number): PairedPhase => ({
  msgPerSec,
  cpuMsPerMessage: 0.1,
  othersCores: 0,
  stealCores: 0,
});
const pair = (gateway: number, reference: number): RatioPair => ({
  first: 'gateway',
  gateway: phase(gateway),
  reference: phase(reference),
  tries: 1,
});
const measured = (server: 'gateway' | 'reference', msgPerSec: number) =>
  ({ scenario: 'a', server, settings: '', peak: { msgPerSec } }) as unknown as Measurement;
const run = (extra: Partial<ScenarioRun> = {}): ScenarioRun => ({
  scenario: { id: 'a', title: 'a' },
  gateway: measured('gateway', 600),
  reference: measured('reference', 1000),
  ...extra,
});

test('the median pair: the middle one of an odd count, the mean of the middle two of an even one', () => {
  assert.equal(medianPairRatio([pair(40, 100), pair(55, 100), pair(50, 100)]), 0.5);
  assert.equal(medianPairRatio([pair(40, 100), pair(55, 100), pair(50, 100), pair(45, 100)]), 0.475);
  assert.equal(medianPairRatio([]), undefined);
});

test('a run with pairs is judged on them, not on its full runs', () => {
  const r = run({ pairs: [pair(49, 100), pair(48, 100), pair(60, 100)] });
  assert.equal(ratio(r), 0.49);
  assert.match(
    ratioText(r, ratio(r)),
    /^49 % \(median of 3 paired phases, 48 %–60 %; the full runs alone: 60 %\)$/,
  );
});

test('without pairs the full runs decide, and a failure of the pairs is named', () => {
  assert.equal(ratio(run()), 0.6);
  assert.equal(ratioText(run(), 0.6), '60 %');
  const failed = run({ pairsFailure: 'gateway: 3 errors' });
  assert.equal(ratio(failed), 0.6);
  assert.match(ratioText(failed, ratio(failed)), /paired phases failed, gateway: 3 errors/);
});
