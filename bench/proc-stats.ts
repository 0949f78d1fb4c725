/**
 * CPU and memory of a process tree from /proc (Linux only): the server side of a
 * benchmark is several processes (gateway primary + workers + sandbox), so every
 * figure is summed over the tree.
 *
 * CPU: utime + stime of every live process, plus cutime + cstime (children already
 * reaped, e.g. a worker that exited), in clock ticks. RSS: resident pages from statm,
 * summed (shared pages of the node binary are counted once per process, as `ps` does).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const conf = (name: string, fallback: number): number => {
  try {
    return Number(execFileSync('getconf', [name], { encoding: 'utf8' }).trim()) || fallback;
  } catch {
    return fallback;
  }
};
export const CLK_TCK = conf('CLK_TCK', 100);
export const PAGE_SIZE = conf('PAGESIZE', 4096);

/** Fields of /proc/<pid>/stat after the command name: [state, ppid, ...]. */
function statFields(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The roots and all their descendants that are alive now. */
export function treePids(roots: readonly number[]): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const f = statFields(pid);
    if (!f) continue;
    const ppid = Number(f[1]);
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const out: number[] = [];
  const todo = roots.filter((p) => statFields(p) !== undefined);
  while (todo.length) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** CPU seconds used so far by the tree (reaped children included). */
export function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const f = statFields(pid);
    // After ')': state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    if (f) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return ticks / CLK_TCK;
}

export function rssBytes(pids: readonly number[]): number {
  return rssEach(pids).reduce((a, [, b]) => a + b, 0);
}

/** [pid, resident bytes] of each process still alive. */
export function rssEach(pids: readonly number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const pid of pids) {
    try {
      out.push([pid, Number(readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ')[1]) * PAGE_SIZE]);
    } catch {
      // exited between listing and reading
    }
  }
  return out;
}

/** Proportional set size of the processes (smaps_rollup), bytes; shared pages are split, not repeated. */
export function pssBytes(pids: readonly number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1'));
      kb += Number(m?.[1] ?? 0);
    } catch {
      // exited, or not ours to read
    }
  }
  return kb * 1024;
}

/** TCP ports a process listens on (IPv4 and IPv6), from its socket fds and /proc/net/tcp*. */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      // fd closed meanwhile
    }
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address(1) ... st(3) ... inode(9); 0A = LISTEN
      if (cols[3] === '0A' && cols[9] && inodes.has(cols[9]))
        ports.add(parseInt(cols[1]!.split(':')[1]!, 16));
    }
  }
  return [...ports];
}

/**
 * Samples a tree every `everyMs`: peak RSS, and CPU between start() and stop().
 * The tree is re-listed every second (workers may be replaced).
 */
export class TreeSampler {
  readonly #roots: number[];
  #pids: number[] = [];
  #timer: NodeJS.Timeout | undefined;
  #cpu0 = 0;
  #t0 = 0;
  #ticks = 0;
  peakRss = 0;
  lastRss = 0;
  peakPss = 0;
  /** RSS of each process when the tree's sum peaked. */
  peakBreakdown: Array<[number, number]> = [];
  /** Peak of the sum without the processes set apart (the sandbox upstream). */
  peakRssWithoutApart = 0;
  readonly #apart: ReadonlySet<number>;

  constructor(roots: number[], apart: readonly number[] = []) {
    this.#roots = roots;
    this.#pids = treePids(roots);
    this.#apart = new Set(apart);
  }

  get pids(): readonly number[] {
    return this.#pids;
  }

  start(everyMs = 100): void {
    this.#pids = treePids(this.#roots);
    this.#cpu0 = cpuSeconds(this.#pids);
    this.#t0 = performance.now();
    this.peakRss = this.lastRss = rssBytes(this.#pids);
    this.peakPss = pssBytes(this.#pids);
    this.#timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): number {
    if (++this.#ticks % 10 === 0) {
      this.#pids = treePids(this.#roots);
      this.peakPss = Math.max(this.peakPss, pssBytes(this.#pids));
    }
    const each = rssEach(this.#pids);
    this.lastRss = each.reduce((a, [, b]) => a + b, 0);
    const without = each.reduce((a, [pid, b]) => (this.#apart.has(pid) ? a : a + b), 0);
    this.peakRssWithoutApart = Math.max(this.peakRssWithoutApart, without);
    if (this.lastRss > this.peakRss) {
      this.peakRss = this.lastRss;
      this.peakBreakdown = each;
    }
    return this.lastRss;
  }

  /** CPU seconds and wall seconds since start(). */
  stop(): { cpuSeconds: number; wallSeconds: number; peakRss: number; peakPss: number } {
    clearInterval(this.#timer);
    this.sample();
    this.#pids = treePids(this.#roots);
    return {
      cpuSeconds: cpuSeconds(this.#pids) - this.#cpu0,
      wallSeconds: (performance.now() - this.#t0) / 1000,
      peakRss: this.peakRss,
      peakPss: this.peakPss,
    };
  }
}

/**
 * Busy and total CPU seconds of the whole machine so far (/proc/stat), all cores. Busy
 * includes steal: time the hypervisor gave this VM's vCPUs to someone else.
 */
export function machineCpuSeconds(): { busy: number; total: number; steal: number } {
  const cols = readFileSync('/proc/stat', 'latin1')
    .split('\n')[0]!
    .trim()
    .split(/\s+/)
    .slice(1, 9)
    .map(Number);
  const total = cols.reduce((a, b) => a + b, 0);
  const idle = (cols[3] ?? 0) + (cols[4] ?? 0);
  return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK, steal: (cols[7] ?? 0) / CLK_TCK };
}

/** What cpuWindow's end() reports for the interval since its start. */
export interface CpuWindow {
  /** Wall-clock seconds. */
  wall: number;
  /** CPU seconds of the server tree (its pids read again at the end: a new worker counts). */
  cpu: number;
  /** Cores used by neither the tree nor the generators, steal included. */
  othersCores: number;
  /** Cores the hypervisor took from this VM (all vCPUs together). */
  stealCores: number;
}

/**
 * Starts measuring the CPU of a server tree (by its roots), of the load generators and of
 * the rest of the machine; end() reads them again. What bench/measure.ts and
 * bench/paired-phases.ts judge a measurement's disturbance by.
 */
export function cpuWindow(roots: readonly number[], generatorPids: readonly number[]): { end(): CpuWindow } {
  const cpu0 = cpuSeconds(treePids(roots));
  const gen0 = cpuSeconds(generatorPids);
  const machine0 = machineCpuSeconds();
  const t0 = performance.now();
  return {
    end() {
      const wall = (performance.now() - t0) / 1000;
      const cpu = cpuSeconds(treePids(roots)) - cpu0;
      const gen = cpuSeconds(generatorPids) - gen0;
      const machine = machineCpuSeconds();
      return {
        wall,
        cpu,
        othersCores: Math.max(0, (machine.busy - machine0.busy - cpu - gen) / wall),
        stealCores: (machine.steal - machine0.steal) / wall,
      };
    },
  };
}

/**
 * Waits until the machine is quiet (other processes using less than `maxBusyCores`
 * over a second), at most `maxWaitMs`. Returns the busy cores of the last second:
 * the machine may be shared, and a benchmark next to a test suite measures nothing.
 */
export async function waitForQuiet(maxBusyCores = 0.3, maxWaitMs = 60_000): Promise<number> {
  const end = performance.now() + maxWaitMs;
  for (;;) {
    const a = machineCpuSeconds();
    await new Promise((r) => setTimeout(r, 1000));
    const b = machineCpuSeconds();
    const busy = (b.busy - a.busy) / ((b.total - a.total) / Math.max(1, cpuCount()));
    if (busy <= maxBusyCores || performance.now() >= end) return busy;
  }
}

function cpuCount(): number {
  return readFileSync('/proc/stat', 'latin1')
    .split('\n')
    .filter((l) => /^cpu\d+ /.test(l)).length;
}
