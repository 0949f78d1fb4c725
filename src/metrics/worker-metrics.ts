/**
 * Every metric a worker exports, defined once. The primary aggregates them over IPC
 * (src/primary/http/metrics-aggregator.ts): counters and histograms are summed and
 * kept monotonic across worker restarts, gauges are summed unless `aggregator` says
 * otherwise. Histograms are FastHistograms (prom-client's, with a cheaper observe: they
 * are observed on every message and connection). Labels never carry an address, a
 * username or anything a client chose freely: only the small enums written here.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { FastHistogram } from './fast-histogram.ts';
import { registerProcessMetrics } from './process-metrics.ts';

export const workerRegistry = new Registry();
// Not collectDefaultMetrics: its cost per scrape grows with open connections (process-metrics.ts).
registerProcessMetrics(workerRegistry);

const r = [workerRegistry];

// --- SMTP sessions ---------------------------------------------------------
export const smtpConnectionsTotal = new Counter({
  name: 'smtp_connections_total',
  help: 'SMTP connections by admission outcome (accepted, or the limit that refused them).',
  labelNames: ['status'] as const,
  registers: r,
});
export const smtpActiveConnections = new Gauge({
  name: 'smtp_active_connections',
  help: 'SMTP connections currently open.',
  registers: r,
});
export const smtpConnectionDuration = new FastHistogram({
  name: 'smtp_connection_duration_seconds',
  help: 'Lifetime of SMTP connections.',
  buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900],
  registers: r,
});
export const smtpAdmissionDuration = new FastHistogram({
  name: 'smtp_connection_admission_seconds',
  help: "Wait for the admission verdict (pod-wide limits, asked over IPC at accept) once smtp-server's 100 ms early-talker wait is over: what admission adds before the banner.",
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  registers: r,
});
export const smtpTlsHandshakesTotal = new Counter({
  name: 'smtp_tls_handshakes_total',
  help: 'STARTTLS handshakes by outcome, and whether the client resumed an earlier session with a ticket (no certificate signature).',
  labelNames: ['status', 'resumed'] as const,
  registers: r,
});
export const smtpAuthAttemptsTotal = new Counter({
  name: 'smtp_auth_attempts_total',
  help: 'AUTH commands by outcome (success or failure).',
  labelNames: ['outcome'] as const,
  registers: r,
});
export const smtpAuthFailuresTotal = new Counter({
  name: 'smtp_auth_failures_total',
  help: 'Failed AUTH by reason: invalid, mfa, unavailable, tls_required, locked_out, malformed, authzid.',
  labelNames: ['reason'] as const,
  registers: r,
});
export const smtpEmailsReceivedTotal = new Counter({
  name: 'smtp_emails_received_total',
  help: 'Messages received (end of DATA) by the reply class the client got: accepted, deferred (4xx), rejected (5xx).',
  labelNames: ['status'] as const,
  registers: r,
});
export const smtpRepliesTotal = new Counter({
  name: 'smtp_replies_total',
  help: 'Replies the gateway chose from its reply table, by key and class.',
  labelNames: ['reply', 'class'] as const,
  registers: r,
});
export const smtpMessageSize = new FastHistogram({
  name: 'smtp_message_size_bytes',
  help: 'Size of received messages.',
  buckets: [1024, 10_240, 102_400, 1_048_576, 5_242_880, 26_214_400],
  registers: r,
});
export const smtpDataDuration = new FastHistogram({
  name: 'smtp_data_processing_seconds',
  help: 'End of DATA to the reply: parsing plus delivery to Cakemail.',
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: r,
});
export const smtpDataAddedLatency = new FastHistogram({
  name: 'smtp_data_added_latency_seconds',
  help: 'End of DATA to the reply minus the time spent waiting on the Cakemail API: the latency the gateway itself adds.',
  buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2],
  registers: r,
});

// --- Cakemail API ------------------------------------------------------------
export const cakemailTokenCacheTotal = new Counter({
  name: 'cakemail_token_cache_total',
  help: 'AUTH credential cache lookups: hit, miss, negative_hit (wrong password answered from memory).',
  labelNames: ['result'] as const,
  registers: r,
});
export const cakemailApiDuration = new FastHistogram({
  name: 'cakemail_api_request_duration_seconds',
  help: 'Cakemail API calls by endpoint (token, senders, emails) and outcome.',
  labelNames: ['endpoint', 'outcome'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: r,
});
export const cakemailApiRetriesTotal = new Counter({
  name: 'cakemail_api_retries_total',
  help: 'Retried Cakemail API calls by endpoint and the failure that caused the retry.',
  labelNames: ['endpoint', 'reason'] as const,
  registers: r,
});
export const cakemailEmailsForwardedTotal = new Counter({
  name: 'cakemail_emails_forwarded_total',
  help: 'Per-recipient submissions by outcome: accepted, rejected, failed, ambiguous, skipped_duplicate, in_progress_elsewhere.',
  labelNames: ['outcome'] as const,
  registers: r,
});
export const cakemailDeliveryOutcomesTotal = new Counter({
  name: 'cakemail_delivery_outcomes_total',
  help: 'Per-message delivery outcome: all_accepted, partial, deferred, rejected, ambiguous.',
  labelNames: ['outcome'] as const,
  registers: r,
});
export const cakemailDuplicateSkipsTotal = new Counter({
  name: 'cakemail_duplicate_skips_total',
  help: 'Recipients skipped on a client retry because Cakemail had already accepted them.',
  registers: r,
});
export const cakemailCircuitBreakerState = new Gauge({
  name: 'cakemail_circuit_breaker_state',
  help: 'Circuit breaker towards the Cakemail API, worst worker: 0 closed, 1 half-open, 2 open.',
  aggregator: 'max',
  registers: r,
});
