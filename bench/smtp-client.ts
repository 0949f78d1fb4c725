/**
 * A minimal SMTP client connection for the load generator: raw `net` socket, STARTTLS
 * upgrade in place, reply parsing with the arrival time of every reply (so latency is
 * measured where the bytes land, not when a promise chain gets round to it).
 * No nodemailer: the generator must cost as little CPU per message as we can make it.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';

export interface Reply {
  code: number;
  text: string;
  /** performance.now() when the last line of the reply arrived. */
  at: number;
}

export class SmtpError extends Error {
  readonly code: number;
  constructor(step: string, reply: Reply) {
    super(`${step}: ${reply.code} ${reply.text.slice(0, 120)}`);
    this.code = reply.code;
  }
}

interface Waiter {
  resolve(r: Reply): void;
  reject(e: Error): void;
}

export interface OpenOptions {
  host: string;
  port: number;
  localAddress?: string;
  /** Give up (destroy the socket, reject) when no greeting came within this many ms. */
  bannerTimeoutMs?: number;
}

export class SmtpConnection {
  socket: Socket | TLSSocket;
  /** performance.now() when connect() was called, and when the 220 greeting arrived. */
  readonly startedAt: number;
  bannerAt = 0;
  /** The newest TLS session the server gave (a ticket), to resume on the next connection. */
  tlsSession: Buffer | undefined;
  #buf = '';
  #multi: string[] = [];
  readonly #replies: Reply[] = [];
  readonly #waiters: Waiter[] = [];
  #failure: Error | undefined;
  readonly #onData = (chunk: Buffer) => this.#consume(chunk);

  private constructor(socket: Socket, startedAt: number) {
    this.socket = socket;
    this.startedAt = startedAt;
    this.#attach(socket);
  }

  /** Connects and waits for the greeting; rejects on anything but 220. */
  static async open(o: OpenOptions): Promise<SmtpConnection> {
    const startedAt = performance.now();
    const socket = netConnect({
      host: o.host,
      port: o.port,
      noDelay: true,
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    });
    const conn = new SmtpConnection(socket, startedAt);
    const timer = o.bannerTimeoutMs ? setTimeout(() => conn.destroy(), o.bannerTimeoutMs) : undefined;
    const banner = await conn.read().finally(() => clearTimeout(timer));
    if (banner.code !== 220) {
      conn.destroy();
      throw new SmtpError('banner', banner);
    }
    conn.bannerAt = banner.at;
    return conn;
  }

  get timeToBanner(): number {
    return this.bannerAt - this.startedAt;
  }

  /** The next complete reply (multi-line replies are joined). */
  read(): Promise<Reply> {
    const ready = this.#replies.shift();
    if (ready) return Promise.resolve(ready);
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  async expect(step: string, code: number): Promise<Reply> {
    const r = await this.read();
    if (r.code !== code) throw new SmtpError(step, r);
    return r;
  }

  write(data: string | Buffer, done?: () => void): void {
    this.socket.write(data, done);
  }

  async command(line: string, code: number): Promise<Reply> {
    this.write(line + '\r\n');
    return this.expect(line.split(' ')[0] ?? line, code);
  }

  /** EHLO, STARTTLS, TLS handshake (resuming `session` when given), EHLO again. */
  async startTls(ehloName: string, session?: Buffer): Promise<void> {
    await this.command(`EHLO ${ehloName}`, 250);
    await this.command('STARTTLS', 220);
    const raw = this.socket as Socket;
    raw.off('data', this.#onData);
    const secure = tlsConnect({
      socket: raw,
      servername: 'localhost',
      rejectUnauthorized: false, // self-signed benchmark certificate
      minVersion: 'TLSv1.2',
      ...(session ? { session } : {}),
    });
    secure.on('session', (ticket: Buffer) => (this.tlsSession = ticket));
    this.socket = secure;
    this.#attach(secure);
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    await this.command(`EHLO ${ehloName}`, 250);
  }

  async authPlain(user: string, pass: string): Promise<void> {
    const token = Buffer.from(`\0${user}\0${pass}`, 'utf8').toString('base64');
    await this.command(`AUTH PLAIN ${token}`, 235);
  }

  /** Polite close: QUIT, then end; never waits longer than the server takes to answer. */
  async quit(): Promise<void> {
    try {
      this.write('QUIT\r\n');
      await this.read();
    } catch {
      // already gone
    }
    this.socket.end();
    this.socket.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }

  #attach(socket: Socket | TLSSocket): void {
    socket.on('data', this.#onData);
    socket.on('error', (err: Error) => this.#fail(err));
    socket.on('close', () => this.#fail(new Error('connection closed')));
  }

  #consume(chunk: Buffer): void {
    this.#buf += chunk.toString('latin1');
    let nl: number;
    while ((nl = this.#buf.indexOf('\n')) >= 0) {
      const end = nl > 0 && this.#buf.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      const line = this.#buf.slice(0, end);
      this.#buf = this.#buf.slice(nl + 1);
      if (line.length > 3 && line[3] === '-') {
        this.#multi.push(line.slice(4));
        continue;
      }
      const reply: Reply = {
        code: Number(line.slice(0, 3)),
        text: this.#multi.length ? [...this.#multi, line.slice(4)].join('\n') : line.slice(4),
        at: performance.now(),
      };
      this.#multi = [];
      const waiter = this.#waiters.shift();
      if (waiter) waiter.resolve(reply);
      else this.#replies.push(reply);
    }
  }

  #fail(err: Error): void {
    if (this.#failure) return;
    this.#failure = err;
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }
}
