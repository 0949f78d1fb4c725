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
}

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
  // Synchronous writes: a crash or SIGKILL must not eat the last lines of a session.
  return pino(options, pino.destination({ sync: true }));
}
