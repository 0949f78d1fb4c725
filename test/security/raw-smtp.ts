/**
 * Raw SMTP sessions for hostile-input tests: exact bytes out, every byte the server
 * answered back, and how the session ended. Unlike SmtpTestClient this never parses
 * replies on the way (a test asserts on the whole transcript afterwards).
 */
import { readFile } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface Transcript {
  /** Everything the server sent after the setup (banner, or the AUTH reply when authed). */
  received: Buffer;
  /** The server closed (or reset) the connection before the deadline. */
  closed: boolean;
  ms: number;
}

/** A well-formed reply line: three digits 2xx-5xx, then end, space or dash, then printable text. */
export const REPLY_LINE = /^[2-5][0-9]{2}(?:[ -][\x20-\x7e]*)?$/;

/** Splits a transcript into CRLF lines; returns the lines that are not well-formed replies. */
export function malformedLines(received: Buffer): string[] {
  const text = received.toString('latin1');
  const lines = text.split('\r\n');
  const tail = lines.pop(); // after the last CRLF: must be empty
  const bad = lines.filter((l) => !REPLY_LINE.test(l));
  if (tail) bad.push(`(unterminated) ${tail}`);
  return bad;
}

export function replyCodes(received: Buffer): number[] {
  return received
    .toString('latin1')
    .split('\r\n')
    .filter((l) => /^\d{3}(?: |$)/.test(l))
    .map((l) => Number(l.slice(0, 3)));
}

class LineReader {
  #buf = '';
  #waiters: Array<() => void> = [];
  closed = false;
  constructor(socket: Socket | TLSSocket) {
    this.attach(socket);
  }
  attach(socket: Socket | TLSSocket) {
    socket.on('data', (d: Buffer) => {
      this.#buf += d.toString('latin1');
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on('error', () => {});
  }
  /** Waits for the final line of a reply (code + space); returns it and drops the buffer. */
  reply(timeoutMs = 10_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no reply; got ${JSON.stringify(this.#buf)}`)),
        timeoutMs,
      );
      const check = () => {
        const m = /(?:^|\r\n)(\d{3}(?: [^\r\n]*)?)\r\n$/.exec(this.#buf);
        if (m) {
          clearTimeout(timer);
          this.#buf = '';
          return resolve(m[1]!);
        }
        if (this.closed) {
          clearTimeout(timer);
          return reject(new Error(`closed; got ${JSON.stringify(this.#buf)}`));
        }
        this.#waiters.push(check);
      };
      check();
    });
  }
}

export interface SessionOptions {
  port: number;
  /** STARTTLS + AUTH PLAIN with these credentials before the hostile part. */
  auth?: { user: string; pass: string };
  /** STARTTLS (without AUTH unless `auth` is set) before the hostile part. */
  starttls?: boolean;
  /** Sent one write each, in order. */
  chunks: readonly (Buffer | string)[];
  /** Half-close our side after the chunks (the server sees EOF). */
  endAfter?: boolean;
  /** Total time allowed after setup; then the socket is destroyed. */
  deadlineMs: number;
}

/** Connects, waits for the banner, optionally authenticates, sends the chunks, collects replies until close or the deadline. */
export async function rawSession(opts: SessionOptions): Promise<Transcript> {
  const plain = netConnect({ port: opts.port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    plain.once('connect', resolve);
    plain.once('error', reject);
  });
  let socket: Socket | TLSSocket = plain;
  const reader = new LineReader(plain);
  try {
    const banner = await reader.reply();
    if (!banner.startsWith('220')) throw new Error(`banner: ${banner}`);
    if (opts.auth || opts.starttls) {
      plain.write('EHLO fuzz.test\r\n');
      await reader.reply();
      plain.write('STARTTLS\r\n');
      const go = await reader.reply();
      if (!go.startsWith('220')) throw new Error(`STARTTLS: ${go}`);
      plain.removeAllListeners('data');
      const secure = tlsConnect({ socket: plain, rejectUnauthorized: false, servername: 'localhost' });
      await new Promise<void>((resolve, reject) => {
        secure.once('secureConnect', resolve);
        secure.once('error', reject);
      });
      reader.attach(secure);
      socket = secure;
      secure.write('EHLO fuzz.test\r\n');
      await reader.reply();
    }
    if (opts.auth) {
      const payload = Buffer.from(`\0${opts.auth.user}\0${opts.auth.pass}`).toString('base64');
      socket.write(`AUTH PLAIN ${payload}\r\n`);
      const auth = await reader.reply();
      if (!auth.startsWith('235')) throw new Error(`AUTH: ${auth}`);
    }
  } catch (err) {
    plain.destroy();
    throw err;
  }

  const received: Buffer[] = [];
  socket.on('data', (d: Buffer) => received.push(d));
  const started = Date.now();
  const closed = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), opts.deadlineMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  for (const chunk of opts.chunks) {
    if (socket.destroyed) break;
    socket.write(chunk);
  }
  if (opts.endAfter !== false && !socket.destroyed) socket.end();
  const wasClosed = await closed;
  socket.destroy();
  plain.destroy();
  return { received: Buffer.concat(received), closed: wasClosed, ms: Date.now() - started };
}

/** Resident memory of a process in kB (Linux /proc), undefined when it is gone. */
export async function rssKb(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
