/**
 * /metrics for the whole pod, assembled in the primary from every worker over our own
 * IPC (not prom-client's clusterMetrics: its fixed 5 s timeout lets one hung worker fail
 * the whole scrape). Each worker gets its own deadline; a worker that misses it is
 * represented by its last answer, so the scrape still answers in time.
 *
 * A saturated worker reads the request only when its event loop comes round, which made
 * a scrape's p99 ~100 ms under full load (docs/benchmarks.md). Workers therefore also
 * send their numbers unasked every METRICS_MAX_STALENESS_MS / 2: a scrape still asks
 * every worker, but gives one that has not answered after SOFT_WAIT_MS up when its last
 * numbers are younger than METRICS_MAX_STALENESS_MS, and uses those (its answer, when
 * it comes, serves the next scrape). Prometheus reads a value up to a second old; an idle
 * or merely busy pod answers fresh. 0 turns this off: every scrape waits for every answer.
 *
 * Counters and histograms must never go backwards when a worker dies or is replaced:
 * the last snapshot of every departed worker is folded into `retired`, which is summed
 * with the live workers. (Increments between that worker's last scrape and its death
 * are lost — the total stays monotonic, it only lags.)
 */
import { AggregatorRegistry, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import {
  metricsScrapeDuration,
  metricsScrapeWorkerFailures,
  primaryRegistry,
} from '../../metrics/primary-metrics.ts';

type Snapshot = MetricObjectWithValues<MetricValue<string>>[];

/** A live worker by cluster id, able to answer a metrics request. */
export interface MetricsWorker {
  id: number;
  requestMetrics(timeoutMs: number): Promise<Snapshot>;
}

export interface MetricsSource {
  workers(): Iterable<MetricsWorker>;
}

/** How long a scrape waits for a worker that has recent numbers before it uses them. */
const SOFT_WAIT_MS = 20;

export class MetricsAggregator {
  readonly #latest = new Map<number, { snapshot: Snapshot; at: number }>();
  /** One request per worker at a time: a slow worker is not asked again until it answers. */
  readonly #asking = new Map<number, Promise<void>>();
  #retired: Snapshot = [];
  /** Departed workers (cluster ids are never reused): a late answer of one must not count twice. */
  readonly #retiredIds = new Set<number>();
  readonly #timeoutMs: number;
  readonly #maxStalenessMs: number;
  readonly #source: MetricsSource;

  constructor(source: MetricsSource, timeoutMs: number, maxStalenessMs = 0) {
    this.#source = source;
    this.#timeoutMs = timeoutMs;
    this.#maxStalenessMs = maxStalenessMs;
  }

  /** A worker's numbers, unasked: its periodic snapshot or its final one before it exits. */
  offer(workerId: number, snapshot: Snapshot): void {
    if (this.#retiredIds.has(workerId)) return; // already folded into `retired`
    this.#latest.set(workerId, { snapshot, at: performance.now() });
  }

  /** A worker left (crash, rolling restart, stop): keep what it counted. */
  retire(workerId: number): void {
    const last = this.#latest.get(workerId)?.snapshot;
    this.#retiredIds.add(workerId);
    this.#latest.delete(workerId);
    this.#asking.delete(workerId);
    if (!last) return;
    const monotonic = last.filter((m) => ['counter', 'histogram'].includes(String(m.type)));
    this.#retired = AggregatorRegistry.aggregate([this.#retired, monotonic])
      .getMetricsAsArray()
      .map((m) => (m as unknown as { get(): MetricObjectWithValues<MetricValue<string>> }).get());
  }

  async render(): Promise<{ contentType: string; body: string }> {
    const stop = metricsScrapeDuration.startTimer();
    await this.#askWorkers();
    const snapshots = this.#snapshots();
    const workersRegistry = AggregatorRegistry.aggregate(snapshots) as Registry;
    stop();
    const merged = Registry.merge([workersRegistry, primaryRegistry]);
    return { contentType: merged.contentType, body: await merged.metrics() };
  }

  /**
   * Pod-wide values of a few worker metrics (the status page): the same worker round as
   * render(), but only the named metrics are aggregated and nothing is rendered as text.
   */
  async values(names: readonly string[]): Promise<Map<string, MetricValue<string>[]>> {
    await this.#askWorkers();
    const wanted = new Set(names);
    const snapshots = this.#snapshots().map((s) => s.filter((m) => wanted.has(m.name)));
    const out = new Map<string, MetricValue<string>[]>();
    for (const m of AggregatorRegistry.aggregate(snapshots).getMetricsAsArray()) {
      const got = (m as unknown as { get(): MetricObjectWithValues<MetricValue<string>> }).get();
      out.set(got.name, got.values);
    }
    return out;
  }

  /** Every live worker's latest numbers, and what departed ones counted. */
  #snapshots(): Snapshot[] {
    const all = [...this.#latest.values()].map((l) => l.snapshot);
    if (this.#retired.length > 0) all.push(this.#retired);
    return all;
  }

  async #askWorkers(): Promise<void> {
    await Promise.all([...this.#source.workers()].map((w) => this.#ask(w)));
  }

  /** Resolves once the worker answered, failed, or (having recent numbers) after SOFT_WAIT_MS. */
  #ask(w: MetricsWorker): Promise<void> {
    let asking = this.#asking.get(w.id);
    if (!asking) {
      asking = w
        .requestMetrics(this.#timeoutMs)
        .then(
          (snapshot) => this.offer(w.id, snapshot),
          () => {
            metricsScrapeWorkerFailures.inc(); // hung or dying: its previous answer (if any) stands in
          },
        )
        .finally(() => this.#asking.delete(w.id));
      this.#asking.set(w.id, asking);
    }
    const last = this.#latest.get(w.id);
    if (this.#maxStalenessMs === 0 || !last || performance.now() - last.at > this.#maxStalenessMs)
      return asking;
    let timer: NodeJS.Timeout | undefined;
    const softWait = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, SOFT_WAIT_MS);
      timer.unref();
    });
    return Promise.race([asking, softWait]).finally(() => clearTimeout(timer));
  }
}
