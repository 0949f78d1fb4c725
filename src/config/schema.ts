/**
 * Every setting the gateway reads, as one zod schema over environment variables.
 * The schema is the single source of the TypeScript `Config` type, of validation
 * (one line naming the variable, value and what is allowed) and of the README's
 * config table (`describeConfig()` in print.ts).
 */
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const cidrList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .pipe(
    z.array(
      z
        .string()
        .regex(/^[0-9a-fA-F.:]+(\/\d{1,3})?$/, 'CIDR like 10.0.0.0/8 or ::1/128')
        // What node:net's BlockList takes (trusted-networks.ts): an IP address, a prefix within its family.
        .refine(isCidr, 'an IP address with a prefix of at most 32 (IPv4) or 128 (IPv6)'),
    ),
  );

function isCidr(s: string): boolean {
  const [address = '', prefix, ...rest] = s.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return prefix === undefined || Number(prefix) <= (family === 4 ? 32 : 128);
}

/** name → [schema, default (as the env string), description, secret?] */
export const CONFIG_VARIABLES = {
  NODE_ENV: [
    z.enum(['production', 'development', 'test']),
    'development',
    'production forbids the sandbox and the self-signed certificate',
  ],
  CAKEMAIL_API_URL: [
    // The API client (undici) takes nothing else: `host:443` parses as a URL of scheme `host:`.
    z.url({ protocol: /^https?$/, message: 'an http:// or https:// URL' }).optional(),
    undefined,
    'Cakemail API base URL (https://api.cakemail.dev); unset outside production = embedded sandbox',
  ],
  SMTP_HOST: [z.string().min(1), '0.0.0.0', 'address the SMTP listener binds'],
  SMTP_PORT: [int(0, 65535), '2525', 'SMTP port (unprivileged; production maps 587 to it, see README)'],
  SMTP_HOSTNAME: [
    z.string().regex(/^[a-zA-Z0-9.-]+$/, 'a host name'),
    'localhost',
    'name in the banner, EHLO and the self-signed certificate',
  ],
  TLS_CERT_PATH: [
    z.string().optional(),
    undefined,
    'PEM certificate chain (watched: a secret update swaps it live)',
  ],
  TLS_KEY_PATH: [
    z.string().optional(),
    undefined,
    'PEM private key; unset outside production = self-signed in DATA_DIR',
  ],
  TLS_SESSION_TIMEOUT: [
    int(0, 86_400),
    '3600',
    'seconds a TLS session ticket resumes a session (no certificate signature); every worker of the pod honours it (0 = no resumption)',
  ],
  HTTP_HOST: [z.string().min(1), '0.0.0.0', 'address of the health/metrics/status HTTP server'],
  HTTP_PORT: [int(0, 65535), '8080', 'HTTP port for /health/live, /health/ready, /metrics, /'],
  LOG_LEVEL: [z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'info', 'pino level'],
  LOG_FORMAT: [z.enum(['json', 'pretty']), 'json', 'json for machines, pretty for people'],
  LOG_FLUSH_MS: [
    int(0, 60_000),
    '100',
    'ms an info line may wait in the log buffer (0 = every line written at once); warnings and errors never wait',
  ],
  RATE_LIMIT_PER_IP: [
    int(0, 1_000_000),
    '600',
    'messages per minute per client IP, pod-wide (0 = off); over it 451 4.7.0',
  ],
  MAX_CONNECTIONS_PER_POD: [
    int(1, 1_000_000),
    '20000',
    'open SMTP connections per pod, all workers together',
  ],
  MAX_CONNECTIONS_PER_IP: [
    int(1, 1_000_000),
    '100',
    'open SMTP connections per client IP, all workers together',
  ],
  CONNECTION_TIMEOUT: [int(1, 3600), '300', 'seconds of client silence before 421 and close'],
  MESSAGE_SIZE_LIMIT: [
    int(1024, 1024 * 1024 * 1024),
    String(25 * 1024 * 1024),
    'bytes; advertised in EHLO SIZE, enforced while streaming (552 5.3.4)',
  ],
  MAX_RECIPIENTS: [int(1, 10_000), '100', 'RCPT TO per message; over it 452 4.5.3'],
  TRUSTED_NETWORKS: [cidrList, '', 'comma-separated CIDRs that bypass per-IP limits and lockout'],
  SMTP_WORKERS: [
    int(1, 256),
    String(availableParallelism()),
    'SMTP worker processes (default: available CPUs; set it under cgroup limits)',
  ],
  DRAIN_TIMEOUT: [
    int(1, 3600),
    '30',
    'seconds a stopping worker lets sessions finish; then 421, and no new Cakemail call (deliveries under way still answer)',
  ],
  DATA_DIR: [z.string().min(1), '.data', 'writable directory: self-signed TLS, sandbox outbox'],
  WORKER_SEMI_SPACE_MB: [
    int(0, 1024),
    '8',
    'V8 young-generation semi-space of each worker in MiB (0 = V8 default); see docs/benchmarks.md',
  ],
  WORKER_HEAP_GROWING_PERCENT: [
    int(0, 300),
    '20',
    "how far V8 lets a worker's old generation grow past its live size before collecting, in % (0 = V8's own, adaptive); see docs/benchmarks.md",
  ],
  WORKER_INITIAL_OLD_SPACE_MB: [
    int(0, 4096),
    '96',
    "old generation a worker may fill before its first full collection, in MiB (0 = V8's own); see docs/benchmarks.md",
  ],
  WORKER_ALLOCATOR: [
    z.enum(['auto', 'jemalloc', 'system']),
    'auto',
    'malloc of the SMTP workers: jemalloc (less memory per TLS session) when installed, or the system one',
  ],
  WORKER_RESTART_DELAY_MS: [
    int(0, 600_000),
    '250',
    'first delay before replacing a crashed worker (doubles each crash)',
  ],
  WORKER_START_TIMEOUT_MS: [
    int(1_000, 600_000),
    '30000',
    'time a new worker has to report ready; past it, it is killed (a crash of a starting slot, a failed rolling replacement)',
  ],
  WORKER_CRASH_LOOP_LIMIT: [
    int(1, 1000),
    '10',
    'crashes of one slot within 60 s after which the slot stops restarting',
  ],
  METRICS_WORKER_TIMEOUT_MS: [
    int(50, 10_000),
    '1500',
    'per-worker wait when aggregating /metrics (slow workers are skipped)',
  ],
  METRICS_MAX_STALENESS_MS: [
    int(0, 60_000),
    '1000',
    "a scrape waits at most 20 ms for a busy worker whose numbers it has from the last this-many ms (workers send them twice as often); 0 = always wait for every worker's answer",
  ],
  AUTH_TIMEOUT: [
    int(0, 3600),
    '60',
    'seconds a session may stay unauthenticated before 421 (slowloris bound; 0 = off)',
  ],
  AUTH_LOCKOUT_THRESHOLD: [
    int(0, 10_000),
    '5',
    'failed AUTH per IP within the window that locks the IP out (0 = off)',
  ],
  AUTH_LOCKOUT_WINDOW: [int(1, 86_400), '300', 'seconds over which failed AUTH are counted'],
  AUTH_LOCKOUT_DURATION: [int(1, 86_400), '900', 'seconds an IP stays locked out'],
  AUTH_CACHE_TTL_MAX: [
    int(1, 86_400),
    '3600',
    'upper bound (s) on caching a successful AUTH (also bounded by the token expiry)',
  ],
  AUTH_NEGATIVE_CACHE_TTL: [int(0, 3600), '30', 'seconds a wrong password is answered from memory'],
  AUTH_CACHE_SIZE: [int(1, 1_000_000), '10000', 'credentials cached per worker'],
  CAKEMAIL_TIMEOUT_MS: [int(100, 120_000), '10000', 'per-call timeout towards the Cakemail API'],
  CAKEMAIL_CONNECTIONS: [int(1, 1024), '64', 'keep-alive connections per worker to the Cakemail API'],
  DELIVERY_CONCURRENCY: [int(1, 256), '8', 'parallel POST /v2/emails per message'],
  DELIVERY_DEADLINE_MS: [int(100, 600_000), '30000', 'time budget for a message including retries, then 451'],
  DELIVERY_MAX_ATTEMPTS: [int(1, 20), '4', 'attempts per recipient for retryable failures'],
  DELIVERY_RETRY_BASE_MS: [
    int(1, 60_000),
    '250',
    'first retry delay (ms) for 429/5xx/network errors; doubles per attempt with jitter, within DELIVERY_DEADLINE_MS',
  ],
  BREAKER_FAILURE_THRESHOLD: [
    int(1, 10_000),
    '20',
    'consecutive upstream failures that open the circuit breaker',
  ],
  BREAKER_HALF_OPEN_AFTER_MS: [int(100, 600_000), '10000', 'ms the breaker stays open before one probe'],
  DEDUP_TTL: [
    int(60, 30 * 86_400),
    '86400',
    'seconds a recipient accepted before a 4xx is remembered (no duplicate on retry)',
  ],
  DEDUP_MAX_ENTRIES: [
    int(1_000, 10_000_000),
    '1000000',
    'ledger records kept in memory without Redis, by the primary and again by each worker (~60 bytes each per process); past it the oldest go first',
  ],
  DEDUP_SHARE_DELAY_MS: [
    int(0, 600_000),
    '50',
    'ms a worker may hold the ledger records of clean 250s before sharing them with the other workers (sent at once after a 4xx or partial delivery, and when a session closes)',
  ],
  DEFAULT_EMAIL_TYPE: [
    z.enum(['transactional', 'marketing']),
    'transactional',
    'content.type when X-Email-Api-Type is absent',
  ],
  DEFAULT_LIST_ID: [
    int(1, Number.MAX_SAFE_INTEGER).optional(),
    undefined,
    'list_id for marketing mail without X-List-Id',
  ],
  MIME_MAX_DEPTH: [int(1, 100), '20', 'MIME nesting depth accepted'],
  MIME_MAX_PARTS: [int(1, 10_000), '200', 'MIME parts accepted per message'],
  MIME_MAX_HEADER_BYTES: [
    int(1024, 10 * 1024 * 1024),
    String(256 * 1024),
    "bytes of one header block (the message's or one part's)",
  ],
  REDIS_URL: [
    z.string().optional(),
    undefined,
    'redis://… shares limits, lockout and dedup across pods (unset = per pod)',
  ],
  SANDBOX_PORT: [int(0, 65535), '0', 'port of the embedded sandbox API (0 = any free port)'],
  SANDBOX_USERS_FILE: [
    z.string().optional(),
    undefined,
    'JSON users/senders for the sandbox (default: a demo account)',
  ],
} as const satisfies Record<string, readonly [z.ZodType, string | undefined, string]>;

/** Variables whose values never reach a log or the printed config. */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set(['REDIS_URL']);

type Vars = typeof CONFIG_VARIABLES;
export type ConfigName = keyof Vars;
export type Config = { readonly [K in ConfigName]: z.output<Vars[K][0]> };
