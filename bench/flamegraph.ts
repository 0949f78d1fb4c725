/**
 * A flame graph of V8 .cpuprofile files (node --cpu-prof) as one SVG. profile-summary.ts's
 * tables say which functions and activities cost most; a flame graph shows where in the call
 * tree that time goes and through which callers, at a glance. The stacks of all the given
 * profiles (e.g. both SMTP workers) are merged into one tree keyed by frame (function, file,
 * line), each sample weighted by its time delta, idle samples left out, cut to the measured
 * window like summarise(). Plain SVG strings, no dependencies.
 *
 * CLI: `node bench/flamegraph.ts <dir-or-.cpuprofile...> --out <file.svg> [--title "..."]`
 */
import { writeFileSync } from 'node:fs';
import { esc } from './chart.ts';
import {
  ACTIVITIES,
  frameKey,
  listProfiles,
  moduleOf,
  profileSamples,
  whereOf,
  type CallFrame,
  type ProfileWindow,
} from './profile-summary.ts';

export interface FlameOptions {
  title: string;
  /** Only samples inside this window (summarise's), e.g. Measurement.peakWindowUs. */
  windowUs?: ProfileWindow;
  /** Frames narrower than this share of the busy time are left out (with their callees). */
  minWidthPct?: number;
}

interface FlameNode {
  frame: CallFrame;
  us: number;
  activity: string;
  children: Map<string, FlameNode>;
}

const OTHER = 'other (node internals, native code, (program))';
/** One fixed colour per entry of ACTIVITIES, in its order; OTHER is grey. */
const PALETTE = [
  '#ced4da', // garbage collection
  '#ff8787', // IPC with the primary
  '#ffd43b', // MIME parsing
  '#74c0fc', // Cakemail API client
  '#a9e34b', // delivery pipeline
  '#e599f7', // logging
  '#b197fc', // metrics
  '#ff922b', // SMTP replies
  '#ffc078', // session hooks
  '#faa2c1', // smtp-server
  '#63e6be', // sockets and TLS
  '#91a7ff', // sandbox upstream
  '#d8f5a2', // module loading
];
const colourOf = (activity: string) => {
  const i = ACTIVITIES.findIndex((a) => a.activity === activity);
  return i < 0 ? '#e9ecef' : PALETTE[i % PALETTE.length]!;
};

const WIDTH = 1200;
const MARGIN = 10;
const FRAME_H = 17;
const TOP = 62;
const CHAR_W = 6.5; // approximate width of a character at font-size 11

/** The merged call tree of the busy samples; a frame's activity is its own rule's, else its caller's. */
function mergedTree(files: string[], windowUs?: ProfileWindow): FlameNode {
  const root: FlameNode = {
    frame: { functionName: 'all', url: '', lineNumber: -1, columnNumber: -1 },
    us: 0,
    activity: OTHER,
    children: new Map(),
  };
  for (const { dt, stack } of profileSamples(files, windowUs)) {
    if (moduleOf(stack[0]!) === '(idle)') continue;
    root.us += dt;
    let node = root;
    for (let i = stack.length - 1; i >= 0; i--) {
      const f = stack[i]!;
      if (i === stack.length - 1 && f.functionName === '(root)') continue; // V8's root: ours is "all"
      const key = frameKey(f);
      let child = node.children.get(key);
      if (!child) {
        const own = ACTIVITIES.find((r) => r.test(f, moduleOf(f)))?.activity;
        child = { frame: f, us: 0, activity: own ?? node.activity, children: new Map() };
        node.children.set(key, child);
      }
      child.us += dt;
      node = child;
    }
  }
  return root;
}

/** Classic flame graph, root at the bottom; callees above their caller, sorted by name. */
export function flameGraph(inputs: string[], opts: FlameOptions): string {
  const files = listProfiles(inputs);
  const minPct = opts.minWidthPct ?? 0.3;
  const root = mergedTree(files, opts.windowUs);
  const busyMs = root.us / 1000;
  const plotW = WIDTH - 2 * MARGIN;
  const rects: Array<{ node: FlameNode; depth: number; x: number; w: number }> = [];
  const layout = (node: FlameNode, depth: number, x: number) => {
    if (root.us <= 0 || (node.us / root.us) * 100 < minPct) return;
    const w = (node.us / root.us) * plotW;
    rects.push({ node, depth, x, w });
    let cx = x;
    const children = [...node.children.entries()].sort(([ka, a], [kb, b]) =>
      a.frame.functionName === b.frame.functionName
        ? ka.localeCompare(kb)
        : a.frame.functionName.localeCompare(b.frame.functionName),
    );
    for (const [, child] of children) {
      layout(child, depth + 1, cx);
      cx += (child.us / root.us) * plotW;
    }
  };
  layout(root, 0, MARGIN);
  const maxDepth = Math.max(0, ...rects.map((r) => r.depth));
  const graphBottom = TOP + (maxDepth + 1) * FRAME_H;
  const activities = [...ACTIVITIES.map((a) => a.activity), OTHER].filter((a) =>
    rects.some((r) => r.node.activity === a),
  );
  const legendRows = Math.ceil(activities.length / 2);
  const height = graphBottom + 24 + legendRows * 16 + 10;

  const out: string[] = [];
  const where = opts.windowUs ? 'the measured window' : 'the whole profile';
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(opts.title)}</text>`,
    `<text x="${WIDTH / 2}" y="37" text-anchor="middle" font-size="12" fill="#555">flame graph, root at the bottom, callees above their caller: width = CPU time including callees in ${where}, idle left out; ${files.length} profile(s) merged, ${busyMs.toFixed(0)} ms busy</text>`,
    `<text x="${WIDTH / 2}" y="53" text-anchor="middle" font-size="12" fill="#555">frames under ${minPct} % of the busy time left out; colour: the activity of the frame, else of its nearest caller that has one; hover a frame for its time</text>`,
  );
  if (rects.length === 0)
    out.push(`<text x="${WIDTH / 2}" y="${TOP + 12}" text-anchor="middle">no busy samples</text>`);
  for (const { node, depth, x, w } of rects) {
    const y = graphBottom - (depth + 1) * FRAME_H;
    const f = node.frame;
    const name =
      node === root
        ? `all: ${files.length} profile(s), ${busyMs.toFixed(0)} ms busy`
        : f.functionName || '(anonymous)';
    const place = node === root ? '' : ` ${whereOf(f)}`;
    const tip = `${name}${place}: ${(node.us / 1000).toFixed(1)} ms, ${((node.us / root.us) * 100).toFixed(1)} % of busy (${node.activity})`;
    const fit = Math.floor((w - 6) / CHAR_W);
    const label = fit < 3 ? '' : name.length <= fit ? name : `${name.slice(0, fit - 2)}..`;
    out.push(
      `<g><title>${esc(tip)}</title><rect x="${x.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${FRAME_H - 1}" fill="${colourOf(node.activity)}" stroke="#fff" stroke-width="0.5"/>` +
        (label ? `<text x="${(x + 3).toFixed(2)}" y="${y + 12}">${esc(label)}</text>` : '') +
        '</g>',
    );
  }
  activities.forEach((a, i) => {
    const lx = MARGIN + (i % 2) * (WIDTH / 2);
    const ly = graphBottom + 20 + Math.floor(i / 2) * 16;
    out.push(
      `<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${colourOf(a)}"/><text x="${lx + 18}" y="${ly}">${esc(a)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const flags = ['--out', '--title'];
  const value = (flag: string) => {
    const at = args.indexOf(flag);
    return at >= 0 ? args[at + 1] : undefined;
  };
  const out = value('--out');
  const inputs = args.filter((a, i) => !flags.includes(a) && !flags.includes(args[i - 1] ?? ''));
  if (!out || inputs.length === 0) {
    process.stderr.write(
      'usage: node bench/flamegraph.ts <dir-or-.cpuprofile...> --out <file.svg> [--title "..."]\n',
    );
    process.exit(2);
  }
  writeFileSync(out, flameGraph(inputs, { title: value('--title') ?? inputs.join(', ') }));
  process.stdout.write(`wrote ${out}\n`);
}
