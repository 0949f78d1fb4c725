/** Number formatting of the bench's tables and lines: a dash for what was not measured. */
export const f0 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(0));
export const f1 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(1));
export const f2 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(2));
export const f3 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(3));
export const pct = (n: number | undefined, digits = 0) =>
  n === undefined || !Number.isFinite(n) ? '–' : `${(n * 100).toFixed(digits)} %`;
