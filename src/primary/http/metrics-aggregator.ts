/**
 * /metrics for the whole pod, assembled in the primary from every worker over our own
 * IPC (not prom-client's clusterMetrics: its fixed 5 s timeout lets one hung worker fail
 * the whole scrape). Each worker gets its own deadline; a worker that misses it is
 * represented by its last answer, so the scrape still answers in time.
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

export interface MetricsSource {
  /** Live workers by cluster id, each able to answer a metrics request. */
  workers(): Iterable<{ id: number; requestMetrics(timeoutMs: number): Promise<Snapshot> }>;
}

export class MetricsAggregator {
  readonly #latest = new Map<number, Snapshot>();
  #retired: Snapshot = [];
  readonly #timeoutMs: number;
  readonly #source: MetricsSource;

  constructor(source: MetricsSource, timeoutMs: number) {
    this.#source = source;
    this.#timeoutMs = timeoutMs;
  }

  /** An exiting worker's final answer: more recent than its last scrape. */
  final(workerId: number, snapshot: Snapshot): void {
    this.#latest.set(workerId, snapshot);
  }

  /** A worker left (crash, rolling restart, stop): keep what it counted. */
  retire(workerId: number): void {
    const last = this.#latest.get(workerId);
    this.#latest.delete(workerId);
    if (!last) return;
    const monotonic = last.filter((m) => ['counter', 'histogram'].includes(String(m.type)));
    this.#retired = AggregatorRegistry.aggregate([this.#retired, monotonic])
      .getMetricsAsArray()
      .map((m) => (m as unknown as { get(): MetricObjectWithValues<MetricValue<string>> }).get());
  }

  async render(): Promise<{ contentType: string; body: string }> {
    const stop = metricsScrapeDuration.startTimer();
    await this.#askWorkers();
    const snapshots = [...this.#latest.values()];
    if (this.#retired.length > 0) snapshots.push(this.#retired);
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
    const snapshots = [...this.#latest.values(), this.#retired].map((s) =>
      s.filter((m) => wanted.has(m.name)),
    );
    const out = new Map<string, MetricValue<string>[]>();
    for (const m of AggregatorRegistry.aggregate(snapshots).getMetricsAsArray()) {
      const got = (m as unknown as { get(): MetricObjectWithValues<MetricValue<string>> }).get();
      out.set(got.name, got.values);
    }
    return out;
  }

  async #askWorkers(): Promise<void> {
    const workers = [...this.#source.workers()];
    await Promise.all(
      workers.map(async (w) => {
        try {
          this.#latest.set(w.id, await w.requestMetrics(this.#timeoutMs));
        } catch {
          metricsScrapeWorkerFailures.inc(); // hung or dying: its previous answer (if any) stands in
        }
      }),
    );
  }
}
