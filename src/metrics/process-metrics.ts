/**
 * Process metrics of every gateway process (workers as they are, the primary with the
 * `gateway_primary_` prefix): prom-client's default names and meanings, minus the ones
 * whose cost grows with the number of open connections.
 *
 * `collectDefaultMetrics` reads `/proc/self/fd` (`process_open_fds`) and lists every
 * handle and resource (`nodejs_active_*`) on each scrape, synchronously, on the event
 * loop that serves the SMTP sessions: with 5,000 sessions per worker one scrape took
 * ~70 ms of that loop (28 ms the directory read alone), so every scrape stalled every
 * session and /metrics waited for it (docs/benchmarks.md). What is kept here costs the
 * same at 10 sessions and at 10,000: CPU, RSS, V8 heap, event-loop delay, GC pauses,
 * start time and version. Connection counts come from `smtp_active_connections`.
 */
import { readFileSync } from 'node:fs';
import { PerformanceObserver, constants as perfConstants, monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

const GC_KINDS: Record<number, string> = {
  [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [perfConstants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** The soft open-files limit, read once (it does not change while we run). */
function maxOpenFiles(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line ? Number(line.split(/\s+/)[3]) : NaN;
    return Number.isFinite(soft) ? soft : undefined;
  } catch {
    return undefined; // not Linux
  }
}

export function registerProcessMetrics(registry: Registry, prefix = ''): void {
  const registers = [registry];

  let lastCpu = process.cpuUsage();
  const cpuUser = new Counter({
    name: `${prefix}process_cpu_user_seconds_total`,
    help: 'Total user CPU time spent in seconds.',
    registers,
    collect() {
      // One collect feeds the three CPU counters (as prom-client does).
      const now = process.cpuUsage();
      const user = (now.user - lastCpu.user) / 1e6;
      const system = (now.system - lastCpu.system) / 1e6;
      lastCpu = now;
      cpuUser.inc(user);
      cpuSystem.inc(system);
      cpuTotal.inc(user + system);
    },
  });
  const cpuSystem = new Counter({
    name: `${prefix}process_cpu_system_seconds_total`,
    help: 'Total system CPU time spent in seconds.',
    registers,
  });
  const cpuTotal = new Counter({
    name: `${prefix}process_cpu_seconds_total`,
    help: 'Total user and system CPU time spent in seconds.',
    registers,
  });

  new Gauge({
    name: `${prefix}process_resident_memory_bytes`,
    help: 'Resident memory size in bytes.',
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: `${prefix}nodejs_heap_size_total_bytes`,
    help: 'Process heap size from Node.js in bytes.',
    registers,
    collect() {
      const h = getHeapStatistics();
      this.set(h.total_heap_size);
      heapUsed.set(h.used_heap_size);
      external.set(h.external_memory);
    },
  });
  const heapUsed = new Gauge({
    name: `${prefix}nodejs_heap_size_used_bytes`,
    help: 'Process heap size used from Node.js in bytes.',
    registers,
  });
  const external = new Gauge({
    name: `${prefix}nodejs_external_memory_bytes`,
    help: 'Node.js external memory size in bytes.',
    registers,
  });

  new Gauge({
    name: `${prefix}process_start_time_seconds`,
    help: 'Start time of the process since unix epoch in seconds.',
    registers,
    aggregator: 'omit',
  }).set(Math.round(Date.now() / 1000 - process.uptime()));
  const maxFds = maxOpenFiles();
  if (maxFds !== undefined)
    new Gauge({
      name: `${prefix}process_max_fds`,
      help: 'Maximum number of open file descriptors (per worker).',
      registers,
      aggregator: 'max',
    }).set(maxFds);
  const [major = '', minor = '', patch = ''] = process.versions.node.split('.');
  new Gauge({
    name: `${prefix}nodejs_version_info`,
    help: 'Node.js version info.',
    labelNames: ['version', 'major', 'minor', 'patch'] as const,
    registers,
    aggregator: 'first',
  }).set({ version: process.version, major, minor, patch }, 1);

  // Event-loop delay since the previous scrape, as prom-client reports it (reset per
  // scrape). The first gauge's collect sets them all: metrics are read in this order.
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const seconds = (ns: number) => (Number.isFinite(ns) ? ns / 1e9 : 0);
  const lag = (suffix: string, aggregator: 'min' | 'max' | 'average', what: string, collect?: () => void) =>
    new Gauge({
      name: `${prefix}nodejs_eventloop_lag_${suffix}_seconds`,
      help: `The ${what} of the recorded event loop delays.`,
      registers,
      aggregator,
      ...(collect ? { collect } : {}),
    });
  const gauges = {
    min: lag('min', 'min', 'minimum', () => {
      if (delay.count === 0) {
        // No sample since the last scrape (min would read as 2^63 ns): all zero.
        for (const g of Object.values(gauges)) g.set(0);
        return;
      }
      gauges.min.set(seconds(delay.min));
      gauges.max.set(seconds(delay.max));
      gauges.mean.set(seconds(delay.mean));
      gauges.stddev.set(seconds(delay.stddev));
      gauges.p50.set(seconds(delay.percentile(50)));
      gauges.p90.set(seconds(delay.percentile(90)));
      gauges.p99.set(seconds(delay.percentile(99)));
      delay.reset();
    }),
    max: lag('max', 'max', 'maximum'),
    mean: lag('mean', 'average', 'mean'),
    stddev: lag('stddev', 'average', 'standard deviation'),
    p50: lag('p50', 'average', '50th percentile'),
    p90: lag('p90', 'average', '90th percentile'),
    p99: lag('p99', 'average', '99th percentile'),
  };

  const gc = new Histogram({
    name: `${prefix}nodejs_gc_duration_seconds`,
    help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
    labelNames: ['kind'] as const,
    buckets: [0.001, 0.01, 0.1, 1, 2, 5],
    registers,
  });
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail;
      const kind = GC_KINDS[detail?.kind ?? -1] ?? 'unknown';
      gc.observe({ kind }, entry.duration / 1000);
    }
  }).observe({ entryTypes: ['gc'] });
}
