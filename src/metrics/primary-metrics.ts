/** Metrics owned by the primary (workers cannot see these facts), appended to the aggregate. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { registerProcessMetrics } from './process-metrics.ts';

export const primaryRegistry = new Registry();
// The primary's own process metrics get a prefix so they never collide with the workers' sums.
registerProcessMetrics(primaryRegistry, 'gateway_primary_');

const r = [primaryRegistry];

export const workerRestartsTotal = new Counter({
  name: 'gateway_worker_restarts_total',
  help: 'Worker processes replaced, by reason: crash or rolling (SIGHUP).',
  labelNames: ['reason'] as const,
  registers: r,
});
export const workerStates = new Gauge({
  name: 'gateway_workers',
  help: 'Worker slots by state: starting, listening, draining, backoff, crashlooping.',
  labelNames: ['state'] as const,
  registers: r,
});
export const gatewayReady = new Gauge({
  name: 'gateway_ready',
  help: '1 when every worker slot listens and the gateway is not draining.',
  registers: r,
});
export const metricsScrapeWorkerFailures = new Counter({
  name: 'gateway_metrics_worker_timeouts_total',
  help: 'Workers that did not answer a /metrics aggregation in time (their last values were used).',
  registers: r,
});
export const metricsScrapeDuration = new Histogram({
  name: 'gateway_metrics_scrape_duration_seconds',
  help: 'Time to aggregate /metrics from every worker.',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
  registers: r,
});
export const tlsCertificateExpiry = new Gauge({
  name: 'gateway_tls_certificate_expiry_timestamp_seconds',
  help: 'notAfter of the certificate the SMTP listener serves, as a Unix timestamp.',
  registers: r,
});
export const tlsReloadsTotal = new Counter({
  name: 'gateway_tls_reloads_total',
  help: 'TLS material (re)loads by outcome.',
  labelNames: ['outcome'] as const,
  registers: r,
});
export const podConnections = new Gauge({
  name: 'gateway_pod_connections',
  help: 'Open SMTP connections the primary counts against MAX_CONNECTIONS_PER_POD.',
  registers: r,
});
export const authLockoutsTotal = new Counter({
  name: 'gateway_auth_lockouts_total',
  help: 'Client IPs locked out after repeated AUTH failures.',
  registers: r,
});
export const rateLimitedTotal = new Counter({
  name: 'gateway_rate_limited_total',
  help: 'MAIL FROM refused because the client IP exceeded RATE_LIMIT_PER_IP.',
  registers: r,
});
export const sharedStateDegraded = new Gauge({
  name: 'gateway_shared_state_degraded',
  help: '1 while REDIS_URL is set but Redis is unreachable (limits fall back to this pod).',
  registers: r,
});
