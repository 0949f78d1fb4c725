/**
 * Where accepted emails go: a bounded in-memory list (for tests and the control surface)
 * and, when enabled, two files per email in <dataDir>/outbox: <id>.json (the request,
 * account and time) and <id>.eml (a readable rendering).
 *
 * Files are written off the request path by a small pool of writers, so an answer never
 * waits for the disk unless the backlog is large (then `add` returns a promise that
 * settles once the backlog shrank: backpressure instead of unbounded memory or EMFILE).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SubmitEmail } from '../cakemail/types.ts';
import type { Logger } from '../log.ts';
import { renderEml } from './eml.ts';
import type { SandboxSender } from './users.ts';

export interface OutboxEntry {
  id: string;
  receivedAt: string;
  accountId: number;
  username: string;
  request: unknown;
}

export interface OutboxOptions {
  dataDir: string;
  writeFiles: boolean;
  log: Logger;
  maxEntries?: number;
  /** Bytes of request bodies kept in memory (attachments can be large). */
  maxBytes?: number;
  writers?: number;
  maxBacklog?: number;
}

interface Job {
  entry: OutboxEntry;
  sender: SandboxSender | undefined;
}

export class Outbox {
  readonly dir: string;
  readonly #writeFiles: boolean;
  readonly #log: Logger;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #writers: number;
  readonly #maxBacklog: number;
  /** Insertion-ordered: the first key is the oldest entry. */
  readonly #entries = new Map<string, { entry: OutboxEntry; bytes: number }>();
  #bytes = 0;
  readonly #queue: Job[] = [];
  #queueHead = 0;
  #active = 0;
  #writeErrors = 0;
  #idleWaiters: Array<() => void> = [];
  #roomWaiters: Array<() => void> = [];

  constructor(opts: OutboxOptions) {
    this.dir = join(opts.dataDir, 'outbox');
    this.#writeFiles = opts.writeFiles;
    this.#log = opts.log;
    this.#maxEntries = opts.maxEntries ?? 10_000;
    this.#maxBytes = opts.maxBytes ?? 256 * 1024 * 1024;
    this.#writers = opts.writers ?? 16;
    this.#maxBacklog = opts.maxBacklog ?? 5_000;
  }

  async init(): Promise<void> {
    if (this.#writeFiles) await mkdir(this.dir, { recursive: true });
  }

  /** Records an accepted email. Resolves at once unless the file backlog is full. */
  add(entry: OutboxEntry, bodyBytes: number, sender: SandboxSender | undefined): Promise<void> | undefined {
    this.#entries.set(entry.id, { entry, bytes: bodyBytes });
    this.#bytes += bodyBytes;
    while (
      this.#entries.size > this.#maxEntries ||
      (this.#bytes > this.#maxBytes && this.#entries.size > 1)
    ) {
      const oldest = this.#entries.entries().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value[0]);
      this.#bytes -= oldest.value[1].bytes;
    }
    if (!this.#writeFiles) return undefined;
    this.#queue.push({ entry, sender });
    this.#pump();
    if (this.#backlog() <= this.#maxBacklog) return undefined;
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  list(): OutboxEntry[] {
    return Array.from(this.#entries.values(), (e) => e.entry);
  }

  get size(): number {
    return this.#entries.size;
  }

  get writeErrors(): number {
    return this.#writeErrors;
  }

  /** Forgets the in-memory entries; files already written stay on disk. */
  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  /** Settles when every queued file has been written (or failed and been logged). */
  flush(): Promise<void> {
    if (this.#backlog() === 0 && this.#active === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #backlog(): number {
    return this.#queue.length - this.#queueHead;
  }

  #pump(): void {
    while (this.#active < this.#writers && this.#backlog() > 0) {
      const job = this.#queue[this.#queueHead] as Job;
      this.#queue[this.#queueHead] = undefined as unknown as Job;
      this.#queueHead += 1;
      if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
        this.#queue.splice(0, this.#queueHead);
        this.#queueHead = 0;
      }
      this.#active += 1;
      void this.#write(job).finally(() => {
        this.#active -= 1;
        this.#pump();
        this.#wake();
      });
    }
  }

  #wake(): void {
    if (this.#backlog() <= this.#maxBacklog / 2 && this.#roomWaiters.length > 0) {
      for (const w of this.#roomWaiters.splice(0)) w();
    }
    if (this.#backlog() === 0 && this.#active === 0) {
      for (const w of this.#idleWaiters.splice(0)) w();
      for (const w of this.#roomWaiters.splice(0)) w();
    }
  }

  async #write({ entry, sender }: Job): Promise<void> {
    const base = join(this.dir, entry.id);
    const record = {
      ...entry,
      sender: sender === undefined ? null : { id: sender.id, name: sender.name, email: sender.email },
    };
    try {
      const eml = renderEml({
        id: entry.id,
        receivedAt: entry.receivedAt,
        accountId: entry.accountId,
        request: entry.request as SubmitEmail,
        sender,
      });
      await Promise.all([
        writeFile(`${base}.json`, JSON.stringify(record, null, 2) + '\n'),
        writeFile(`${base}.eml`, eml),
      ]);
    } catch (err) {
      this.#writeErrors += 1;
      this.#log.warn({ err, id: entry.id }, 'sandbox outbox: could not write files');
    }
  }
}
