// Entry of the gateway: `npm start` / `node --max-semi-space-size=2 src/main.ts` (src/primary/node-flags.ts). Runs the primary; the primary forks workers/smtp-worker.ts.
// The compile cache goes first: every module imported after it is served from the cache.
import { enableCompileCache } from './compile-cache.ts';

enableCompileCache();
const { ConfigError, loadConfig } = await import('./config/load.ts');
const { createLogger } = await import('./log.ts');
const { runPrimary } = await import('./primary/primary.ts');

let config;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(err.message + '\n');
  process.exit(78); // EX_CONFIG
}
const log = createLogger({
  level: config.LOG_LEVEL,
  format: config.LOG_FORMAT,
  flushMs: config.LOG_FLUSH_MS,
  role: 'primary',
});
runPrimary(config, log).catch((err: Error) => {
  log.fatal({ event: 'gateway.start_failed', err: err.message, stack: err.stack }, 'gateway failed to start');
  process.exit(1);
});
