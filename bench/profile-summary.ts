/**
 * Summarises V8 .cpuprofile files (node --cpu-prof): self time per function and per
 * module (our src/ files, each npm package, node internals, GC/idle/program), and
 * total (inclusive) time of our own functions, so "what costs what" can be read.
 *
 * CLI: `node bench/profile-summary.ts <dir-or-files...> [--top 25]`
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface FunctionCost {
  name: string;
  where: string;
  module: string;
  ms: number;
  pct: number;
}

export interface ProfileSummary {
  files: number;
  /** Sampled wall time (µs deltas summed), ms. */
  totalMs: number;
  /** Time not idle, ms. */
  busyMs: number;
  topSelf: FunctionCost[];
  byModule: Array<{ module: string; ms: number; pct: number }>;
  /** Inclusive time of functions in our own src/, busy share. */
  ownTotal: FunctionCost[];
  /** Busy time by activity (ACTIVITIES: first rule matching a frame of the sample's stack). */
  byActivity: Array<{ activity: string; ms: number; pct: number }>;
}

/**
 * What a sample is spent on, judged from its whole stack; the first rule that matches
 * any frame wins, so the order is the precedence (IPC inside the delivery counts as IPC).
 */
export const ACTIVITIES: Array<{ activity: string; test(frame: CallFrame, module: string): boolean }> = [
  { activity: 'garbage collection', test: (f) => f.functionName === '(garbage collector)' },
  {
    activity: 'IPC with the primary (src/ipc, ledger/admission requests, cluster messages)',
    test: (_f, m) =>
      m.startsWith('src/ipc/') ||
      m === 'src/smtp/primary-link.ts' ||
      m === 'src/smtp/ipc-ledger.ts' ||
      m === 'node:internal/child_process/serialization' ||
      m === 'node:internal/child_process' ||
      m.startsWith('node:internal/cluster/'),
  },
  {
    activity: 'MIME parsing and conversion (src/mail, mailparser)',
    test: (_f, m) =>
      m.startsWith('src/mail/') ||
      [
        'mailparser',
        '@zone-eu/mailsplit',
        'libmime',
        'libbase64',
        'libqp',
        'iconv-lite',
        'encoding-japanese',
        'html-to-text',
        'nodemailer',
        'punycode.js',
        'linkify-it',
        'tlds',
      ].includes(m),
  },
  {
    activity: 'Cakemail API client (src/cakemail, undici, JSON)',
    test: (_f, m) => m.startsWith('src/cakemail/') || m === 'undici',
  },
  { activity: 'delivery pipeline (src/delivery)', test: (_f, m) => m.startsWith('src/delivery/') },
  {
    activity: 'logging (pino)',
    test: (_f, m) => m === 'src/log.ts' || m.startsWith('pino') || m.startsWith('@pinojs/'),
  },
  { activity: 'metrics (prom-client)', test: (_f, m) => m.startsWith('src/metrics/') || m === 'prom-client' },
  {
    activity: 'SMTP replies (smtp-server send, TLS write)',
    test: (f, m) => m === 'src/smtp/reply-shim.ts' || (m === 'smtp-server' && f.functionName === 'send'),
  },
  { activity: 'session hooks (src/smtp)', test: (_f, m) => m.startsWith('src/smtp/') },
  { activity: 'smtp-server protocol and DATA stream', test: (_f, m) => m === 'smtp-server' },
  {
    activity: 'sockets and TLS (node:net, node:tls, stream internals)',
    test: (_f, m) =>
      m === 'node:net' ||
      m.startsWith('node:internal/tls') ||
      m === 'node:tls' ||
      m.startsWith('node:internal/stream_base'),
  },
  {
    activity: 'sandbox upstream (src/sandbox, its HTTP server)',
    test: (_f, m) => m.startsWith('src/sandbox/') || m === 'node:_http_server',
  },
  {
    activity: 'module loading and compilation',
    test: (_f, m) => m.startsWith('node:internal/modules/') || m.includes('amaro'),
  },
];

const REPO = new URL('../', import.meta.url).pathname;

/** Which bucket a frame's code belongs to: src/<file>, a package, node:<module>, or a V8 pseudo-frame. */
export function moduleOf(frame: CallFrame): string {
  const url = frame.url;
  if (!url) {
    const n = frame.functionName;
    if (n === '(idle)' || n === '(garbage collector)' || n === '(program)' || n === '(root)') return n;
    return '(native)';
  }
  if (url.startsWith('node:')) return url;
  const path = url.startsWith('file://') ? decodeURIComponent(new URL(url).pathname) : url;
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  return path.startsWith(REPO) ? relative(REPO, path) : path;
}

/** Where a frame's code is: src/<file>:<line>, <package>:<line>, node:<module>:<line>, or the pseudo-frame. */
export function whereOf(frame: CallFrame): string {
  const m = moduleOf(frame);
  return frame.url ? `${m}:${frame.lineNumber + 1}` : m;
}

/** One function of the profile: frames with this key are the same function (name, file, line). */
export const frameKey = (f: CallFrame): string => `${f.functionName}|${f.url}|${f.lineNumber}`;

/** The .cpuprofile files given directly or inside the given directories. */
export function listProfiles(inputs: string[]): string[] {
  const out: string[] = [];
  for (const p of inputs) {
    if (statSync(p).isDirectory()) {
      for (const f of readdirSync(p)) if (f.endsWith('.cpuprofile')) out.push(join(p, f));
    } else out.push(p);
  }
  return out;
}

/** CLOCK_MONOTONIC microseconds: V8 profile timestamps and process.hrtime share that clock on Linux. */
export interface ProfileWindow {
  fromUs: number;
  toUs: number;
}

/**
 * Every sample of the profiles (files or directories, see listProfiles) with a positive
 * time delta, taken inside `window` when given: its delta (µs, its weight) and its stack,
 * the sampled frame first and (root) last.
 */
export function* profileSamples(
  inputs: string[],
  window?: ProfileWindow,
): Generator<{ dt: number; stack: CallFrame[] }> {
  for (const file of listProfiles(inputs)) {
    const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    if (!Array.isArray(prof.samples) || !Array.isArray(prof.timeDeltas)) continue;
    const byId = new Map(prof.nodes.map((n) => [n.id, n] as const));
    const parent = new Map<number, number>();
    for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    let at = prof.startTime;
    for (let i = 0; i < prof.samples.length; i++) {
      const node = byId.get(prof.samples[i]!);
      const dt = prof.timeDeltas[i] ?? 0;
      at += dt;
      if (window && (at < window.fromUs || at > window.toUs)) continue;
      if (!node || dt <= 0) continue;
      const stack: CallFrame[] = [];
      for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id))
        stack.push(byId.get(id)!.callFrame);
      yield { dt, stack };
    }
  }
}

/** `window`: only samples taken in it, e.g. the measured phase without start-up and warm-up. */
export function summarise(inputs: string[], top = 25, window?: ProfileWindow): ProfileSummary {
  const files = listProfiles(inputs);
  const self = new Map<string, { name: string; where: string; module: string; us: number }>();
  const inclusive = new Map<string, { name: string; where: string; module: string; us: number }>();
  const modules = new Map<string, number>();
  const activities = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const { dt, stack } of profileSamples(files, window)) {
    total += dt;
    const f = stack[0]!;
    const mod = moduleOf(f);
    if (mod === '(idle)') {
      idle += dt;
      continue;
    }
    modules.set(mod, (modules.get(mod) ?? 0) + dt);
    const key = frameKey(f);
    const s = self.get(key) ?? {
      name: f.functionName || '(anonymous)',
      where: whereOf(f),
      module: mod,
      us: 0,
    };
    s.us += dt;
    self.set(key, s);
    // Inclusive time of our own functions: each distinct frame on the stack once.
    const seen = new Set<string>();
    for (const cf of stack) {
      if (!cf.url.includes('/src/') || cf.url.includes('/node_modules/')) continue;
      const k = frameKey(cf);
      if (seen.has(k)) continue;
      seen.add(k);
      const e = inclusive.get(k) ?? {
        name: cf.functionName || '(anonymous)',
        where: whereOf(cf),
        module: moduleOf(cf),
        us: 0,
      };
      e.us += dt;
      inclusive.set(k, e);
    }
    const mods = stack.map(moduleOf);
    const rule = ACTIVITIES.find((r) => stack.some((f, i) => r.test(f, mods[i]!)));
    const label =
      rule?.activity ??
      (mod === '(program)' ? '(program): native work outside JS' : 'other (node internals, events, timers)');
    activities.set(label, (activities.get(label) ?? 0) + dt);
  }
  const busy = total - idle;
  const cost = (e: { name: string; where: string; module: string; us: number }): FunctionCost => ({
    name: e.name,
    where: e.where,
    module: e.module,
    ms: e.us / 1000,
    pct: busy > 0 ? (e.us / busy) * 100 : 0,
  });
  return {
    files: files.length,
    totalMs: total / 1000,
    busyMs: busy / 1000,
    topSelf: [...self.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map(cost),
    byModule: [...modules.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([module, us]) => ({ module, ms: us / 1000, pct: busy > 0 ? (us / busy) * 100 : 0 })),
    byActivity: [...activities.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([activity, us]) => ({ activity, ms: us / 1000, pct: busy > 0 ? (us / busy) * 100 : 0 })),
    ownTotal: [...inclusive.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map(cost),
  };
}

export function summaryMarkdown(s: ProfileSummary, heading: string, top = 15): string {
  const f = (n: number) => n.toFixed(1);
  const lines = [
    `**${heading}** — ${s.files} profile(s), ${f(s.busyMs / 1000)} s busy of ${f(s.totalMs / 1000)} s sampled`,
    '',
    '| activity (whole stack) | ms | % of busy |',
    '|---|---:|---:|',
    ...s.byActivity.map((a) => `| ${a.activity} | ${f(a.ms)} | ${f(a.pct)} |`),
    '',
    '| self time: function | where | ms | % of busy |',
    '|---|---|---:|---:|',
    ...s.topSelf.slice(0, top).map((c) => `| \`${c.name}\` | ${c.where} | ${f(c.ms)} | ${f(c.pct)} |`),
    '',
    '| self time by module | ms | % of busy |',
    '|---|---:|---:|',
    ...s.byModule.slice(0, top).map((m) => `| ${m.module} | ${f(m.ms)} | ${f(m.pct)} |`),
    '',
    '| total (inclusive) time: our function | where | ms | % of busy |',
    '|---|---|---:|---:|',
    ...s.ownTotal.slice(0, top).map((c) => `| \`${c.name}\` | ${c.where} | ${f(c.ms)} | ${f(c.pct)} |`),
    '',
  ];
  return lines.join('\n');
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const topAt = args.indexOf('--top');
  const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
  const inputs = args.filter((_, i) => topAt < 0 || (i !== topAt && i !== topAt + 1));
  if (inputs.length === 0) {
    process.stderr.write('usage: node bench/profile-summary.ts <dir-or-.cpuprofile...> [--top 25]\n');
    process.exit(2);
  }
  process.stdout.write(summaryMarkdown(summarise(inputs, top), inputs.join(', '), top));
}
