/**
 * Prometheus histograms read off two /metrics texts: the distribution of what was
 * observed between them (cumulative bucket counts by upper bound, summed over series).
 */

export type Buckets = Map<number, number>;

/** Cumulative counts of `name`'s buckets (series whose labels contain `labels`), by `le`. */
export function histogramBuckets(text: string, name: string, labels = ''): Buckets {
  const out: Buckets = new Map();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}_bucket{`) || !line.includes(labels)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    out.set(bound, (out.get(bound) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

export interface Observed {
  count: number;
  /** Share of observations ≤ each bound, ascending bounds. */
  shares: Array<[bound: number, share: number]>;
  /** histogram_quantile's linear interpolation inside the bucket (seconds). */
  quantile(q: number): number;
}

/** What was observed between `before` and `after`. */
export function observedBetween(before: Buckets, after: Buckets): Observed {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const cum = bounds.map((b) => (after.get(b) ?? 0) - (before.get(b) ?? 0));
  const count = cum.at(-1) ?? 0;
  return {
    count,
    shares: bounds.map((b, i) => [b, count ? cum[i]! / count : NaN]),
    quantile(q) {
      if (!count) return NaN;
      const rank = q * count;
      const i = cum.findIndex((c) => c >= rank);
      const upper = bounds[i]!;
      const lower = i > 0 ? bounds[i - 1]! : 0;
      if (upper === Infinity) return lower;
      const below = i > 0 ? cum[i - 1]! : 0;
      const inBucket = cum[i]! - below;
      return lower + (upper - lower) * (inBucket ? (rank - below) / inBucket : 1);
    },
  };
}
