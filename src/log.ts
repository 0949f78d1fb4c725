/**
 * pino loggers. One root logger per process tagged with its role (and worker slot);
 * sessions take a child tagged with the session id. Every line passes through
 * redactSecrets (log-redaction.ts), the backstop: code never passes passwords, AUTH
 * payloads or tokens to a logger in the first place.
 */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import { redactSecrets } from './log-redaction.ts';

export type { Logger };

export interface LogOptions {
  level: string;
  format: 'json' | 'pretty';
  role: 'primary' | 'worker' | 'sandbox' | 'tool';
  worker?: number;
  /**
   * JSON only: how long an info, debug or trace line may wait in the buffer, in ms (0 = every
   * line written at once). Lines at warn and above flush the buffer at once.
   */
  flushMs?: number;
}

/**
 * A write is whole lines and at most PIPE_BUF bytes, which a pipe writes atomically: the
 * primary and the workers share stdout (a pipe under pm2 and in a container), and a longer
 * write can be split by the kernel and interleaved with another process's, cutting lines.
 * sonic-boom keeps its buffers at most maxWrite long, of whole lines, and writes one once
 * the total reaches minLength.
 */
const PIPE_BUF = 4096;
const WRITE_AT_BYTES = PIPE_BUF - 512;
/** Lines at this level and above are not kept waiting. */
const WARN = pino.levels.values.warn ?? 40;

export function createLogger(opts: LogOptions): Logger {
  const base = {
    role: opts.role,
    pid: process.pid,
    ...(opts.worker === undefined ? {} : { worker: opts.worker }),
  };
  const options = {
    level: opts.level,
    base,
    hooks: { streamWrite: redactSecrets },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (opts.format === 'pretty') {
    // pino-pretty runs in this process (sync) rather than a transport thread per process.
    return pino(options, pretty({ sync: true, colorize: false }));
  }
  const flushMs = opts.flushMs ?? 0;
  // Synchronous writes: an exception or a process.exit() must not eat the last lines.
  if (flushMs === 0) return pino(options, pino.destination({ sync: true }));
  // Buffered, like nginx's `access_log buffer= flush=` or Envoy's access-log flush interval:
  // a write(2) per line cost 9 % of the gateway tree's CPU a message at LOG_LEVEL=info under
  // bench (a)'s load (two lines a message), and each one wakes whatever reads stdout (pm2,
  // the container runtime). A SIGKILL can cost the last flushMs of info lines; an exit
  // (process.exit, an uncaught exception) writes them, and warnings and errors never wait.
  const destination = pino.destination({
    sync: true,
    minLength: WRITE_AT_BYTES,
    maxWrite: PIPE_BUF,
    periodicFlush: flushMs,
  });
  process.once('exit', () => {
    try {
      destination.flushSync();
    } catch {
      // Whoever read stdout is gone (EPIPE): there is nowhere left to write the lines.
    }
  });
  return pino(
    {
      ...options,
      hooks: {
        ...options.hooks,
        logMethod(args, method, level) {
          method.apply(this, args);
          if (level >= WARN) destination.flush();
        },
      },
    },
    destination,
  );
}
