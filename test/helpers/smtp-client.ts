/**
 * A small raw SMTP client for tests: exact control over what is sent and when
 * (pipelining, partial DATA, STARTTLS), every reply returned as code + lines.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';

export interface Reply {
  code: number;
  lines: string[];
  text: string;
}

export class SmtpTestClient {
  #socket: Socket | TLSSocket;
  #buffer = '';
  #replies: Reply[] = [];
  #waiters: Array<() => void> = [];
  #current: string[] = [];
  closed = false;

  private constructor(socket: Socket) {
    this.#socket = socket;
    this.#attach(socket);
  }

  /** `localAddress` (another 127.x.y.z) makes the connection come from a different client IP. */
  static connect(
    port: number,
    host = '127.0.0.1',
    localAddress?: string,
    bannerTimeoutMs?: number,
  ): Promise<{ client: SmtpTestClient; banner: Reply }> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ port, host, ...(localAddress ? { localAddress } : {}) }, async () => {
        const client = new SmtpTestClient(socket);
        try {
          resolve({ client, banner: await client.read(bannerTimeoutMs) });
        } catch (e) {
          reject(e);
        }
      });
      socket.once('error', reject);
    });
  }

  #attach(socket: Socket | TLSSocket): void {
    socket.setEncoding('utf8');
    socket.on('data', (data: string) => {
      this.#buffer += data;
      let i: number;
      while ((i = this.#buffer.indexOf('\r\n')) >= 0) {
        const line = this.#buffer.slice(0, i);
        this.#buffer = this.#buffer.slice(i + 2);
        this.#current.push(line);
        if (line.length < 4 || line[3] !== '-') {
          const lines = this.#current;
          this.#current = [];
          this.#replies.push({ code: Number(line.slice(0, 3)), lines, text: lines.join('\n') });
          for (const w of this.#waiters.splice(0)) w();
        }
      }
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on('error', () => {});
  }

  /** Next reply (waits for it); rejects when the connection closed first or after the timeout. */
  read(timeoutMs = 15_000): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no SMTP reply in time')), timeoutMs);
      const attempt = () => {
        const r = this.#replies.shift();
        if (r) {
          clearTimeout(timer);
          return resolve(r);
        }
        if (this.closed) {
          clearTimeout(timer);
          return reject(new Error('connection closed'));
        }
        this.#waiters.push(attempt);
      };
      attempt();
    });
  }

  write(data: string | Buffer): void {
    this.#socket.write(data);
  }

  async command(line: string): Promise<Reply> {
    this.write(line + '\r\n');
    return this.read();
  }

  /** STARTTLS and the handshake; `options` add to (or override) the client's TLS settings. */
  async starttls(options: Pick<ConnectionOptions, 'maxVersion' | 'session'> = {}): Promise<Reply> {
    const reply = await this.command('STARTTLS');
    if (reply.code !== 220) return reply;
    const plain = this.#socket as Socket;
    plain.removeAllListeners('data');
    const secure = tlsConnect({
      socket: plain,
      rejectUnauthorized: false,
      servername: 'localhost',
      minVersion: 'TLSv1.2',
      ...options,
    });
    // TLS 1.3 sends its session tickets after the handshake, with the first records that follow.
    secure.on('session', (ticket: Buffer) => (this.tlsSession = ticket));
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.#socket = secure;
    this.#attach(secure);
    return reply;
  }

  /** The last session the server gave this connection (a ticket), for `starttls({ session })`. */
  tlsSession: Buffer | undefined;

  get tlsSocket(): TLSSocket | undefined {
    return 'encrypted' in this.#socket ? (this.#socket as TLSSocket) : undefined;
  }

  /** EHLO + STARTTLS + EHLO + AUTH PLAIN. */
  async login(user: string, pass: string): Promise<Reply> {
    await this.command('EHLO client.test');
    await this.starttls();
    await this.command('EHLO client.test');
    return this.command('AUTH PLAIN ' + Buffer.from(`\0${user}\0${pass}`).toString('base64'));
  }

  closedPromise(): Promise<void> {
    return new Promise((resolve) => (this.closed ? resolve() : this.#socket.once('close', () => resolve())));
  }

  end(): void {
    this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

export function message(subject: string, body = 'Hello.\r\n', extraHeaders = ''): string {
  return `From: user@test.example\r\nTo: rcpt@example.com\r\nSubject: ${subject}\r\n${extraHeaders}\r\n${body}`;
}

/** MAIL/RCPT/DATA + body, returns the final reply. */
export async function sendMail(client: SmtpTestClient, rcpts: string[], body: string): Promise<Reply> {
  const mail = await client.command('MAIL FROM:<user@test.example>');
  if (mail.code !== 250) return mail;
  for (const r of rcpts) {
    const rr = await client.command(`RCPT TO:<${r}>`);
    if (rr.code !== 250) return rr;
  }
  const data = await client.command('DATA');
  if (data.code !== 354) return data;
  client.write(body.replace(/\r?\n\./g, '\r\n..') + '\r\n.\r\n');
  return client.read();
}
