/**
 * docs/benchmarks-latency.svg: end-of-DATA latency percentiles per scenario, gateway
 * against reference, on a log scale. Plain SVG strings, no dependencies.
 */
import type { Percentiles } from './stats.ts';

export interface ChartRow {
  label: string;
  server: 'gateway' | 'reference';
  p: Percentiles;
}

const COLORS = { gateway: '#d9480f', reference: '#1864ab' } as const;
export const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

export function latencyChart(rows: readonly ChartRow[], title: string): string {
  const usable = rows.filter((r) => r.p.count > 0 && Number.isFinite(r.p.p50));
  const left = 250;
  const right = 30;
  const top = 56;
  const rowH = 22;
  const width = 900;
  const height = top + usable.length * rowH + 60;
  const plotW = width - left - right;
  const values = usable.flatMap((r) => [r.p.p50, r.p.p999]).filter((v) => v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.max(0.01, Math.min(...values, 1))));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values, 10)));
  const x = (v: number) =>
    left + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotW;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="${width / 2}" y="38" text-anchor="middle" fill="#555">end of DATA to reply, ms (log scale); dot = p50, bar = p50 to p99.9, tick = p90, diamond = p99</text>`,
  );
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    for (const m of [1, 2, 5]) {
      const v = d * m;
      if (v > hi * 1.0001) break;
      const gx = x(v);
      out.push(
        `<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${top + usable.length * rowH}" stroke="${m === 1 ? '#ccc' : '#eee'}"/>`,
        `<text x="${gx}" y="${top + usable.length * rowH + 16}" text-anchor="middle" fill="#555">${v >= 1 ? v : v.toFixed(2)}</text>`,
      );
    }
  }
  usable.forEach((r, i) => {
    const y = top + i * rowH + rowH / 2;
    const c = COLORS[r.server];
    if (i > 0 && usable[i - 1]!.label !== r.label)
      out.push(
        `<line x1="10" y1="${y - rowH / 2}" x2="${width - right}" y2="${y - rowH / 2}" stroke="#999" stroke-dasharray="2,3"/>`,
      );
    out.push(
      `<text x="${left - 8}" y="${y + 4}" text-anchor="end">${esc(r.label)} · <tspan fill="${c}">${r.server}</tspan></text>`,
      `<line x1="${x(r.p.p50)}" y1="${y}" x2="${x(r.p.p999)}" y2="${y}" stroke="${c}" stroke-width="4" stroke-opacity="0.35"/>`,
      `<line x1="${x(r.p.p90)}" y1="${y - 6}" x2="${x(r.p.p90)}" y2="${y + 6}" stroke="${c}" stroke-width="2"/>`,
      `<circle cx="${x(r.p.p50)}" cy="${y}" r="4.5" fill="${c}"><title>p50 ${r.p.p50.toFixed(2)} ms</title></circle>`,
      `<path d="M ${x(r.p.p99)} ${y - 6} l 6 6 l -6 6 l -6 -6 z" fill="${c}"><title>p99 ${r.p.p99.toFixed(2)} ms</title></path>`,
    );
  });
  const ly = height - 18;
  out.push(
    `<circle cx="${left}" cy="${ly - 4}" r="5" fill="${COLORS.reference}"/><text x="${left + 10}" y="${ly}">reference (bare smtp-server)</text>`,
    `<circle cx="${left + 230}" cy="${ly - 4}" r="5" fill="${COLORS.gateway}"/><text x="${left + 240}" y="${ly}">gateway (primary + workers + sandbox upstream)</text>`,
    '</svg>',
  );
  return out.join('\n') + '\n';
}
