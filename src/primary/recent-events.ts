/**
 * The last error-level events the primary logged (worker crashes, crash loops, TLS
 * reload failures, ...), kept in a small ring so the status page can show them without
 * a log pipeline. Recording is a wrapper around the primary's logger: every call site
 * that already logs an error is covered, and nothing new has to remember to record.
 */
import type { Logger } from '../log.ts';
import { CENSOR, isSecretKey } from '../log-redaction.ts';

export interface RecentEvent {
  /** ISO time. */
  at: string;
  level: 'error' | 'fatal';
  /** The log line's `event` field ('' when it had none). */
  event: string;
  message: string;
  /** A short rendering of the line's other scalar fields (slot, pid, code, err...). */
  detail: string;
}

const DETAIL_MAX = 300;
const SKIPPED_FIELDS = new Set(['event', 'stack']);

export class RecentEvents {
  readonly #ring: (RecentEvent | undefined)[];
  #next = 0;
  #count = 0;

  constructor(size = 20) {
    this.#ring = new Array<RecentEvent | undefined>(size);
  }

  record(e: RecentEvent): void {
    this.#ring[this.#next] = e;
    this.#next = (this.#next + 1) % this.#ring.length;
    this.#count = Math.min(this.#count + 1, this.#ring.length);
  }

  /** Newest first. */
  list(): RecentEvent[] {
    const out: RecentEvent[] = [];
    for (let i = 1; i <= this.#count; i++) {
      const e = this.#ring[(this.#next - i + this.#ring.length) % this.#ring.length];
      if (e) out.push(e);
    }
    return out;
  }
}

function describe(args: unknown[], level: RecentEvent['level']): RecentEvent {
  const [first, second] = args;
  const fields = first !== null && typeof first === 'object' ? (first as Record<string, unknown>) : {};
  const message = typeof first === 'string' ? first : typeof second === 'string' ? second : '';
  const detail = Object.entries(fields)
    .filter(([k, v]) => !SKIPPED_FIELDS.has(k) && v !== undefined && typeof v !== 'object')
    // The status page is not a log line: the JSON backstop (log-redaction.ts) never sees it.
    .map(([k, v]) => `${k}=${isSecretKey(k) ? CENSOR : String(v)}`)
    .join(' ');
  return {
    at: new Date().toISOString(),
    level,
    event: typeof fields.event === 'string' ? fields.event : '',
    message,
    detail: detail.length > DETAIL_MAX ? detail.slice(0, DETAIL_MAX - 1) + '…' : detail,
  };
}

/**
 * A logger that behaves exactly like `log` and also records its error and fatal lines
 * into `events`. Built like pino builds its own children (a prototype link), so every
 * other method and property is the original one.
 */
export function recordingErrors(log: Logger, events: RecentEvents): Logger {
  const wrapped = Object.create(log) as Logger;
  for (const level of ['error', 'fatal'] as const) {
    const original = log[level];
    // Recorded even when the level is not logged: the page is for people without the logs.
    // `this` stays the receiver, so a child of the wrapped logger keeps its own bindings.
    const replacement = function (this: Logger, ...args: unknown[]) {
      events.record(describe(args, level));
      return (original as (...a: unknown[]) => void).apply(this, args);
    };
    Object.defineProperty(wrapped, level, { value: replacement, writable: true, configurable: true });
  }
  return wrapped;
}
