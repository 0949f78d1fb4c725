/**
 * Runs the sandbox on its own: `node src/sandbox/main.ts`.
 *
 * Env: SANDBOX_HOST (127.0.0.1), SANDBOX_PORT (0 = any), DATA_DIR (.data),
 * SANDBOX_USERS_FILE (built-in demo data), SANDBOX_WRITE_OUTBOX (true),
 * SANDBOX_TOKEN_TTL (seconds, 432000), LOG_LEVEL (info), LOG_FORMAT (json).
 * Prints one line `{"msg":"sandbox ready","url":...,"port":...}` on stdout once listening,
 * for the process that started it to parse; logs are other JSON lines.
 */
import { createLogger } from '../log.ts';
import { DEMO_USER, startSandbox } from './server.ts';

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`${name}=${raw}: expected a non-negative integer\n`);
    process.exit(2);
  }
  return n;
}

const level = process.env.LOG_LEVEL ?? 'info';
const log = createLogger({
  level,
  format: process.env.LOG_FORMAT === 'pretty' ? 'pretty' : 'json',
  role: 'sandbox',
});

try {
  const sandbox = await startSandbox({
    host: process.env.SANDBOX_HOST || '127.0.0.1',
    port: envInt('SANDBOX_PORT', 0),
    dataDir: process.env.DATA_DIR || '.data',
    ...(process.env.SANDBOX_USERS_FILE ? { usersFile: process.env.SANDBOX_USERS_FILE } : {}),
    writeOutbox: !/^(0|false|no|off)$/i.test(process.env.SANDBOX_WRITE_OUTBOX ?? ''),
    tokenTtlSeconds: envInt('SANDBOX_TOKEN_TTL', 432_000),
    log,
  });
  process.stdout.write(
    JSON.stringify({
      msg: 'sandbox ready',
      url: sandbox.url,
      port: sandbox.port,
      demo: process.env.SANDBOX_USERS_FILE
        ? undefined
        : { username: DEMO_USER.username, sender: DEMO_USER.senderEmail },
    }) + '\n',
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'sandbox stopping');
    void sandbox.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
} catch (err) {
  log.fatal({ err }, 'sandbox failed to start');
  process.exit(1);
}
