/** Percentiles and the small summaries the report prints. */

export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array (q in [0, 1]). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function percentiles(samples: readonly number[]): Percentiles {
  const s = Float64Array.from(samples).sort();
  const arr = Array.from(s);
  return {
    count: arr.length,
    p50: quantile(arr, 0.5),
    p90: quantile(arr, 0.9),
    p99: quantile(arr, 0.99),
    p999: quantile(arr, 0.999),
    max: arr.length ? arr[arr.length - 1]! : NaN,
  };
}

/** `points` evenly spaced quantiles (for a CDF in the chart) of the samples. */
export function cdfPoints(samples: readonly number[], points = 200): Array<[number, number]> {
  const s = Array.from(Float64Array.from(samples).sort());
  if (s.length === 0) return [];
  const out: Array<[number, number]> = [];
  for (let i = 0; i <= points; i++) {
    const q = i / points;
    out.push([quantile(s, q), q]);
  }
  return out;
}

export const round = (n: number, digits = 1): number => {
  if (!Number.isFinite(n)) return n;
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};

export const MiB = 1024 * 1024;
