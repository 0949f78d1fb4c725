/**
 * The results of one benchmark run as bench/run.ts collects them and keeps them in
 * results.json (what `--merge` reads back).
 */
import type { Measurement } from './measure.ts';
import type { RatioPair } from './paired-phases.ts';
import type { ProfileSummary } from './profile-summary.ts';
import type { Scenario } from './scenarios.ts';

export interface ScenarioRun {
  scenario: Pick<Scenario, 'id' | 'title'>;
  gateway?: Measurement;
  reference?: Measurement;
  /** Paired phases on both servers kept up (Scenario.ratioPairs), in the order measured. */
  pairs?: RatioPair[];
  /** Why the paired phases have no result (the ratio is then the full runs'). */
  pairsFailure?: string;
}

export interface MatrixRun {
  sched: 'rr' | 'none';
  workers: number;
  results: Measurement[];
}

export interface ProfileRun {
  label: string;
  byRole: Array<{ role: string; summary: ProfileSummary }>;
  /** The SMTP workers' flame graph in docs/ (bench/flamegraph.ts), when the run wrote the docs. */
  flame?: string;
}

export interface BenchData {
  date: string;
  command: string;
  quick: boolean;
  machine: string;
  commit: string;
  gatewaySettings: string;
  runs: ScenarioRun[];
  matrix: MatrixRun[];
  /** (a) against the gateway's SMTP layer alone (null mail side). */
  layers: Measurement[];
  profiles: ProfileRun[];
}
