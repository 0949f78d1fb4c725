// pm2 process file. The gateway clusters itself (node:cluster), so pm2 runs ONE process
// in fork mode; pm2's own cluster mode would fork our primary as a worker and skip the
// primary logic (FIELD-NOTES). Zero-downtime reload is ours: `pm2 sendSignal SIGHUP smtp-gateway`.
const DRAIN_TIMEOUT_SECONDS = Number(process.env.DRAIN_TIMEOUT ?? 30);
// A delivery under way at the drain's end finishes its call to Cakemail (src/smtp/drain.ts).
const CAKEMAIL_TIMEOUT_MS = Number(process.env.CAKEMAIL_TIMEOUT_MS ?? 10_000);

// pm2 `require()`s this file; Node 24 can require an ES module and hands pm2 its named
// exports, so `apps` is a named export (a default export would be invisible to pm2).
export const apps = [
  {
    name: 'smtp-gateway',
    script: 'src/main.ts',
    // Node 24 from node_modules (npm ci brings it); the machine's own node may be older.
    interpreter: './node_modules/.bin/node',
    // The primary's own Node flags, as npm start and the image give them (src/primary/node-flags.ts).
    node_args: ['--max-semi-space-size=2'],
    exec_mode: 'fork',
    instances: 1,
    // `process.send('ready')` once every worker listens.
    wait_ready: true,
    listen_timeout: 60_000,
    // Above the drain timeout and the last calls after it: pm2 must not SIGKILL a gateway
    // that is still draining.
    kill_timeout: (DRAIN_TIMEOUT_SECONDS + 10) * 1000 + CAKEMAIL_TIMEOUT_MS,
    // Signal only the primary; it drains and stops its workers itself.
    treekill: false,
    shutdown_with_message: false,
    autorestart: true,
    max_restarts: 20,
    min_uptime: 10_000,
    exp_backoff_restart_delay: 200,
    merge_logs: true,
    time: false,
    env: {
      NODE_ENV: 'development',
    },
    env_production: {
      NODE_ENV: 'production',
      LOG_FORMAT: 'json',
      // CAKEMAIL_API_URL, TLS_CERT_PATH and TLS_KEY_PATH must come from the environment.
    },
  },
];
