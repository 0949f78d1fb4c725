/**
 * Continuous load with accounting, for the fault suite: sessions built on the bench
 * load generator's SMTP client (bench/smtp-client.ts) send uniquely numbered messages
 * (two recipients each) and behave like a well-behaved MTA: a 4xx reply, a dropped
 * connection or a refused connection means "send the same bytes again later"; a 250
 * means done. `account()` then compares what the clients saw with the sandbox outbox.
 */
import { SmtpConnection, SmtpError } from '../../bench/smtp-client.ts';
import type { OutboxEntry } from '../../src/sandbox/server.ts';

/** How long a session waits for the 220 before it gives up and reconnects. */
const BANNER_TIMEOUT_MS = 10_000;

export interface LoadOptions {
  port: () => number;
  user: string;
  pass: string;
  from: string;
  sessions: number;
  tag: string;
  /** New TLS connection for every message (exercises handshakes) instead of reusing one. */
  newConnectionPerMessage?: boolean;
  /** A client gives a message up after this long without a 250 (real MTAs: days). */
  giveUpMs?: number;
}

interface Message {
  n: number;
  subject: string;
  rcpts: string[];
  raw: string;
  attempts: number;
  firstTry: number;
  replies: string[];
  status: 'pending' | 'accepted' | 'rejected' | 'gave_up';
}

export interface Accounting {
  sent: number;
  accepted: number;
  retriedThenAccepted: number;
  rejected: number;
  gaveUp: number;
  /** Accepted (250) messages missing a recipient in the outbox: must be 0. */
  lost: string[];
  /** (message, recipient) pairs present more than once. */
  duplicates: string[];
  /** Outbox entries of messages the client never got a 250 for. */
  unacknowledged: string[];
  connectionFailures: number;
  replyCodes: Record<string, number>;
}

export class AccountingLoad {
  readonly #o: LoadOptions;
  readonly #messages: Message[] = [];
  readonly #retry: Message[] = [];
  #next = 0;
  #stopping = false;
  #sessions: Promise<void>[] = [];
  connectionFailures = 0;
  readonly replyCodes: Record<string, number> = {};

  constructor(options: LoadOptions) {
    this.#o = { giveUpMs: 60_000, ...options };
  }

  get acceptedCount(): number {
    return this.#messages.filter((m) => m.status === 'accepted').length;
  }

  start(): void {
    this.#sessions = Array.from({ length: this.#o.sessions }, () => this.#session());
  }

  /** Stops new messages; resolves when every message is settled (250, 5xx or given up). */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#sessions);
  }

  /** Resolves once `count` more messages got their 250 (load is really flowing). */
  async waitAccepted(count: number, timeoutMs = 30_000): Promise<void> {
    const target = this.acceptedCount + count;
    const deadline = Date.now() + timeoutMs;
    while (this.acceptedCount < target) {
      if (Date.now() > deadline) throw new Error(`only ${this.acceptedCount}/${target} accepted in time`);
      await new Promise((r) => setTimeout(r, 20)); // polling a condition, with a deadline
    }
  }

  #take(): Message | undefined {
    const retry = this.#retry.shift();
    if (retry) return retry;
    if (this.#stopping) return undefined;
    const n = this.#next++;
    const subject = `fault ${this.#o.tag} #${n}`;
    const rcpts = [`a${n}@example.com`, `b${n}@example.com`];
    const raw =
      `From: ${this.#o.from}\r\nTo: ${rcpts.join(', ')}\r\nSubject: ${subject}\r\n` +
      `Message-ID: <fault-${this.#o.tag}-${n}@client.test>\r\nDate: Wed, 25 Nov 2026 12:00:00 +0000\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\n\r\nMessage ${n} of the fault suite.\r\n`;
    const m: Message = {
      n,
      subject,
      rcpts,
      raw,
      attempts: 0,
      firstTry: Date.now(),
      replies: [],
      status: 'pending',
    };
    this.#messages.push(m);
    return m;
  }

  #pendingExists(): boolean {
    return this.#retry.length > 0 || this.#messages.some((m) => m.status === 'pending');
  }

  #defer(m: Message, why: string): void {
    m.replies.push(why);
    if (Date.now() - m.firstTry > this.#o.giveUpMs!) m.status = 'gave_up';
    else this.#retry.push(m);
  }

  async #connect(): Promise<SmtpConnection | undefined> {
    try {
      // A greeting timeout, as every MTA has: a connection node:cluster handed to a worker in
      // the instant it was killed stays open in the primary with nobody behind it
      // (docs/reliability.md); without one such a session would wait forever.
      const c = await SmtpConnection.open({
        host: '127.0.0.1',
        port: this.#o.port(),
        bannerTimeoutMs: BANNER_TIMEOUT_MS,
      });
      await c.startTls('client.test');
      await c.authPlain(this.#o.user, this.#o.pass);
      return c;
    } catch {
      this.connectionFailures++;
      // A real MTA backs off before reconnecting; this is client behaviour, not test synchronisation.
      await new Promise((r) => setTimeout(r, 50));
      return undefined;
    }
  }

  async #session(): Promise<void> {
    let conn: SmtpConnection | undefined;
    for (;;) {
      const m = this.#take();
      if (!m) {
        if (!this.#pendingExists()) break;
        await new Promise((r) => setTimeout(r, 20)); // another session holds the last pending messages
        continue;
      }
      conn ??= await this.#connect();
      if (!conn) {
        this.#defer(m, 'connect failed');
        continue;
      }
      m.attempts++;
      try {
        await conn.command(`MAIL FROM:<${this.#o.from}>`, 250);
        for (const r of m.rcpts) await conn.command(`RCPT TO:<${r}>`, 250);
        await conn.command('DATA', 354);
        conn.write(m.raw + '.\r\n');
        const reply = await conn.read();
        this.replyCodes[reply.code] = (this.replyCodes[reply.code] ?? 0) + 1;
        m.replies.push(`${reply.code} ${reply.text}`);
        if (reply.code === 250) m.status = 'accepted';
        else if (reply.code >= 500) m.status = 'rejected';
        else this.#defer(m, `${reply.code}`);
        if (reply.code === 421) {
          conn.destroy();
          conn = undefined;
        }
        if (this.#o.newConnectionPerMessage && conn) {
          await conn.quit();
          conn = undefined;
        }
      } catch (err) {
        // A 4xx at MAIL/RCPT (SmtpError) or a connection cut mid-transaction: retry the same bytes.
        const code = err instanceof SmtpError ? err.code : 0;
        this.replyCodes[code] = (this.replyCodes[code] ?? 0) + 1;
        if (code >= 500) m.status = 'rejected';
        else this.#defer(m, String((err as Error).message));
        conn?.destroy();
        conn = undefined;
      }
    }
    await conn?.quit();
  }

  account(outbox: readonly OutboxEntry[]): Accounting {
    const counts = new Map<string, number>();
    const prefix = `fault ${this.#o.tag} #`;
    for (const e of outbox) {
      const req = e.request as { email?: string; content?: { subject?: string } };
      const subject = req.content?.subject ?? '';
      if (!subject.startsWith(prefix)) continue;
      const key = `${subject}|${req.email}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const lost: string[] = [];
    const unacknowledged: string[] = [];
    for (const m of this.#messages) {
      for (const r of m.rcpts) {
        const c = counts.get(`${m.subject}|${r}`) ?? 0;
        if (m.status === 'accepted' && c === 0) lost.push(`${m.subject} → ${r} (${m.replies.join('; ')})`);
        if (m.status !== 'accepted' && c > 0) unacknowledged.push(`${m.subject} → ${r} [${m.status}]`);
      }
    }
    const duplicates = [...counts].filter(([, c]) => c > 1).map(([k, c]) => `${k} ×${c}`);
    return {
      sent: this.#messages.length,
      accepted: this.acceptedCount,
      retriedThenAccepted: this.#messages.filter((m) => m.status === 'accepted' && m.attempts > 1).length,
      rejected: this.#messages.filter((m) => m.status === 'rejected').length,
      gaveUp: this.#messages.filter((m) => m.status === 'gave_up').length,
      lost,
      duplicates,
      unacknowledged,
      connectionFailures: this.connectionFailures,
      replyCodes: this.replyCodes,
    };
  }
}
