/**
 * The load generator: many SMTP sessions, each STARTTLS + AUTH PLAIN, then messages
 * with MAIL/RCPT/DATA pipelined (the servers advertise PIPELINING), N messages per
 * connection (reuse without limit, one message per new connection, or anything between).
 * Closed loop (each session sends as fast as replies come) or paced at a total rate. Bounded by a message count AND a
 * duration; a hard deadline destroys whatever is still open.
 *
 * Also the "hold" job of scenario (e): open N authenticated sessions and keep them.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { messageTemplate, type MessageTemplate } from './messages.ts';
import { SmtpConnection, SmtpError } from './smtp-client.ts';

export interface Target {
  host: string;
  port: number;
  /** Source addresses, used round robin (spreads ephemeral ports over 127.0.0.x). */
  sources: string[];
  user: string;
  pass: string;
  from: string;
}

export interface RunSpec extends Target {
  sessions: number;
  /**
   * Messages a session sends on one connection before it QUITs and connects again:
   * 0 = as many as the run allows (reuse), 1 = one message per new connection.
   */
  messagesPerConnection: number;
  messageBytes: number;
  pdf: boolean;
  recipients: number;
  maxMessages: number;
  durationMs: number;
  /** Total messages per second across all sessions; 0 = closed loop. */
  ratePerSec: number;
  /** Unique per run: goes into every Subject (see messages.ts). */
  tag: string;
  /** Each session presents the TLS session ticket of its previous connection (a resuming client). */
  resumeTls?: boolean;
}

export interface RunResult {
  messages: number;
  elapsedMs: number;
  /** End of DATA (terminating dot written) to the final reply, ms. */
  latencyMs: number[];
  /** connect() to the 220 greeting, ms. */
  bannerMs: number[];
  connections: number;
  errors: number;
  errorSamples: string[];
  cpuMs: number;
  timedOut: boolean;
}

export interface HoldSpec extends Target {
  count: number;
  /** Sessions being opened at once. */
  concurrency: number;
  timeoutMs: number;
}

export interface HoldResult {
  held: number;
  failed: number;
  bannerMs: number[];
  elapsedMs: number;
  errorSamples: string[];
}

const EHLO = 'bench.local';
const HARD_GRACE_MS = 10_000;

class Errors {
  count = 0;
  readonly samples: string[] = [];
  add(err: unknown): void {
    this.count++;
    const text = err instanceof Error ? err.message : String(err);
    if (this.samples.length < 8 && !this.samples.includes(text)) this.samples.push(text);
  }
}

async function openSession(t: Target, source: string | undefined, ticket?: Buffer): Promise<SmtpConnection> {
  const conn = await SmtpConnection.open({
    host: t.host,
    port: t.port,
    ...(source ? { localAddress: source } : {}),
  });
  try {
    await conn.startTls(EHLO, ticket);
    await conn.authPlain(t.user, t.pass);
    return conn;
  } catch (err) {
    conn.destroy();
    throw err;
  }
}

/** One transaction, pipelined up to DATA. Resolves with the latency, or throws SmtpError. */
async function sendMessage(
  conn: SmtpConnection,
  spec: RunSpec,
  rcpts: readonly string[],
  tpl: MessageTemplate,
  n: number,
): Promise<number> {
  let envelope = `MAIL FROM:<${spec.from}>\r\n`;
  for (const r of rcpts) envelope += `RCPT TO:<${r}>\r\n`;
  conn.write(envelope + 'DATA\r\n');
  let failed: SmtpError | undefined;
  const mail = await conn.read();
  if (mail.code !== 250) failed = new SmtpError('MAIL', mail);
  for (let i = 0; i < rcpts.length; i++) {
    const r = await conn.read();
    if (r.code !== 250) failed ??= new SmtpError('RCPT', r);
  }
  const data = await conn.read();
  if (data.code !== 354) {
    if (!failed) failed = new SmtpError('DATA', data);
    conn.write('RSET\r\n');
    await conn.read();
    throw failed;
  }
  // One TLS record and one write(2) for the whole message, as a client with a buffered
  // stream sends it: three writes cost the generator two more syscalls per message on
  // the two cores it shares with the server, and split the message over several reads.
  conn.socket.cork();
  conn.write(tpl.head(n));
  conn.write(tpl.body);
  let sentAt = performance.now();
  let flushed = false;
  conn.write('.\r\n', () => {
    if (!flushed) sentAt = performance.now();
    flushed = true;
  });
  conn.socket.uncork();
  const reply = await conn.read();
  flushed = true;
  if (reply.code !== 250) throw new SmtpError('end of DATA', reply);
  return Math.max(0, reply.at - sentAt);
}

export async function runLoad(spec: RunSpec): Promise<RunResult> {
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const deadline = start + spec.durationMs;
  const rcpts = Array.from({ length: spec.recipients }, (_, i) => `rcpt${i + 1}@example.com`);
  const tpl = messageTemplate(
    { bytes: spec.messageBytes, pdf: spec.pdf, from: spec.from, to: rcpts },
    spec.tag,
  );
  const latencyMs: number[] = [];
  const bannerMs: number[] = [];
  const errors = new Errors();
  const open = new Set<SmtpConnection>();
  let started = 0;
  let done = 0;
  let connections = 0;
  let nextSource = 0;
  let stopped = false;
  const interval = spec.ratePerSec > 0 ? 1000 / spec.ratePerSec : 0;
  let nextSlot = start;

  /** Claims the next message number, or -1 when the run is over (count, time, pacing). */
  const claim = async (): Promise<number> => {
    if (stopped || started >= spec.maxMessages || performance.now() >= deadline) return -1;
    const n = started++;
    if (interval > 0) {
      const slot = nextSlot;
      nextSlot = Math.max(nextSlot + interval, performance.now() - 50 * interval);
      const wait = slot - performance.now();
      if (wait > 1) await sleep(wait);
      if (stopped || performance.now() >= deadline) return -1;
    }
    return n;
  };

  const session = async (idx: number) => {
    // Stagger the first connections a little so 500 sessions do not all SYN in one tick.
    if (idx > 0) await sleep(Math.min(idx, 200) * 0.5);
    const perConnection = spec.messagesPerConnection;
    // One message per connection: claim it before connecting, so no connection is opened
    // (and counted) that the deadline then leaves without a message.
    const claimFirst = perConnection === 1;
    let ticket: Buffer | undefined;
    while (!stopped && started < spec.maxMessages && performance.now() < deadline) {
      let conn: SmtpConnection | undefined;
      try {
        let n = claimFirst ? await claim() : 0;
        if (n < 0) break;
        const source = spec.sources.length ? spec.sources[nextSource++ % spec.sources.length] : undefined;
        conn = await openSession(spec, source, spec.resumeTls ? ticket : undefined);
        open.add(conn);
        connections++;
        bannerMs.push(conn.timeToBanner);
        for (let sent = 0; perConnection === 0 || sent < perConnection; sent++) {
          if (!claimFirst) n = await claim();
          if (n < 0) break;
          try {
            latencyMs.push(await sendMessage(conn, spec, rcpts, tpl, n));
            done++;
          } catch (err) {
            if (!(err instanceof SmtpError)) throw err;
            errors.add(err);
          }
        }
        ticket = conn.tlsSession ?? ticket;
        await conn.quit();
      } catch (err) {
        if (!stopped) errors.add(err);
        conn?.destroy();
        if (!stopped) await sleep(20);
      } finally {
        if (conn) open.delete(conn);
      }
    }
  };

  let timedOut = false;
  const hard = setTimeout(() => {
    timedOut = true;
    stopped = true;
    for (const c of open) c.destroy();
  }, spec.durationMs + HARD_GRACE_MS);
  await Promise.all(Array.from({ length: spec.sessions }, (_, i) => session(i)));
  clearTimeout(hard);
  const elapsedMs = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  return {
    messages: done,
    elapsedMs,
    latencyMs,
    bannerMs,
    connections,
    errors: errors.count,
    errorSamples: errors.samples,
    cpuMs: (cpu.user + cpu.system) / 1000,
    timedOut,
  };
}

/** Opens `count` authenticated sessions, `concurrency` at a time, and keeps them open. */
export class Holder {
  readonly #conns: SmtpConnection[] = [];

  async hold(spec: HoldSpec): Promise<HoldResult> {
    const start = performance.now();
    const deadline = start + spec.timeoutMs;
    const bannerMs: number[] = [];
    const errors = new Errors();
    let next = 0;
    const opener = async () => {
      while (next < spec.count && performance.now() < deadline) {
        const i = next++;
        try {
          const conn = await openSession(spec, spec.sources[i % spec.sources.length]);
          bannerMs.push(conn.timeToBanner);
          this.#conns.push(conn);
        } catch (err) {
          errors.add(err);
        }
      }
    };
    await Promise.all(Array.from({ length: spec.concurrency }, opener));
    const alive = this.#conns.filter((c) => !c.socket.destroyed).length;
    return {
      held: alive,
      failed: errors.count,
      bannerMs,
      elapsedMs: performance.now() - start,
      errorSamples: errors.samples,
    };
  }

  /** While sessions are held: a new connection every `everyMs`, time to banner only. */
  async probe(t: Target, durationMs: number, everyMs: number): Promise<number[]> {
    const end = performance.now() + durationMs;
    const samples: number[] = [];
    const pending: Promise<void>[] = [];
    let i = 0;
    while (performance.now() < end) {
      const source = t.sources[i++ % t.sources.length];
      pending.push(
        SmtpConnection.open({ host: t.host, port: t.port, ...(source ? { localAddress: source } : {}) }).then(
          async (c) => {
            samples.push(c.timeToBanner);
            await c.quit();
          },
          () => undefined,
        ),
      );
      await sleep(everyMs);
    }
    await Promise.all(pending);
    return samples;
  }

  stillOpen(): number {
    return this.#conns.filter((c) => !c.socket.destroyed).length;
  }

  release(): void {
    for (const c of this.#conns.splice(0)) c.destroy();
  }
}
