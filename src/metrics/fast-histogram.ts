/**
 * prom-client's Histogram with a cheaper observe(), for the histograms a worker observes
 * on every message.
 *
 * Why: prom-client's observe allocates a {labels, value} pair, rebuilds the label hash and
 * finds the bucket by its upper bound as a number-keyed property (a number-to-string
 * conversion and a megamorphic lookup, twice). Four observations a message were ~4 % of a
 * worker's CPU in bench (a) (perf, docs/benchmarks.md), ten times their cost in a hot loop.
 *
 * Here the bucket keys are strings made once and the label hash is built as prom-client
 * builds it; the counts go into prom-client's own entries, so everything that reads them
 * (get(), reset(), the registry's JSON the primary aggregates) is unchanged. A label set's
 * first observation, and any value prom-client would refuse, take prom-client's own path
 * (which creates the entry, or throws). test/unit/fast-histogram.test.ts compares both.
 */
import { Histogram, type HistogramConfiguration, type LabelValues } from 'prom-client';

/** The parts of prom-client's Histogram this relies on (lib/histogram.js, v15). */
interface HistogramInternals {
  hashMap: Record<string, { sum: number; count: number; bucketValues: Record<string, number> }>;
  upperBounds: number[];
  sortedLabelNames: string[];
}

export class FastHistogram<T extends string = string> extends Histogram<T> {
  /** Observations that took prom-client's own path (tests check the fast one is taken). */
  slowPathObservations = 0;

  constructor(config: HistogramConfiguration<T>) {
    super(config);
    if (config.enableExemplars) return; // exemplars keep prom-client's path
    const self = this as unknown as HistogramInternals;
    const bounds = self.upperBounds;
    const keys = bounds.map(String);
    const names = self.sortedLabelNames;
    const original = this.observe.bind(this) as (a: LabelValues<T> | number, b?: number) => void;
    const observe = (a: LabelValues<T> | number, b?: number): void => {
      let labels: LabelValues<T> | undefined;
      let value: number;
      if (typeof a === 'number') value = a;
      else {
        labels = a;
        value = b as number;
      }
      let hash = '';
      if (labels !== undefined) {
        // prom-client's fastHashObject: `name:value,` for each label set, names sorted.
        for (const name of names) {
          const v = (labels as Record<string, string | number | undefined>)[name];
          if (v !== undefined) hash += `${name}:${v},`;
        }
      }
      const entry = self.hashMap[hash];
      if (entry === undefined || !Number.isFinite(value)) {
        this.slowPathObservations++;
        return original(a, b);
      }
      let i = 0;
      while (i < bounds.length && value > bounds[i]!) i++;
      entry.sum += value;
      entry.count += 1;
      if (i < keys.length) entry.bucketValues[keys[i]!]! += 1;
    };
    this.observe = observe as Histogram<T>['observe'];
  }
}
