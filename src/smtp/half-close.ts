/**
 * A client that shuts down its sending side (TCP FIN, `shutdown(SHUT_WR)`) after its last
 * command still gets the reply to everything it sent before, the 250 of a message above
 * all, and then the connection closes. Postfix does the same: read to EOF, answer in
 * order, then close.
 *
 * Node closes both directions of a socket when the peer's FIN arrives unless the socket is
 * `allowHalfOpen`. Before this, a message still waiting on Cakemail when the FIN came was
 * delivered, but its 250 had no socket left to go to: the client saw "connection closed"
 * and sent the message again. Now `allowHalfOpen: true` (server-options.ts; the STARTTLS
 * TLSSocket inherits it from the socket it wraps) keeps our side open.
 *
 * Nothing in smtp-server closes a half-closed session, so this module closes it once the
 * session's command parser has handled everything received before the FIN. The parser
 * is a Writable the socket is piped into. The socket's end ends it, and it emits 'finish'
 * only after the handler of its last command has called back: after the reply to DATA
 * when a message was in flight. A parser that STARTTLS retired, or one closed by QUIT or
 * a 421, is not the session's current parser any more and is left alone.
 *
 * smtp-server also writes a reply only to a socket whose `readyState` is 'open'; a
 * half-closed one is 'writeOnly', and the 250 was dropped there too. The reply shim calls
 * `writableWhenHalfClosed` before every reply.
 */
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

interface ConnectionInternals {
  _parser: (Writable & { isClosed?: boolean }) | false;
  _closing?: boolean;
  _createParser(): Writable & { isClosed?: boolean };
  close(): void;
}

let installed = false;

export function installHalfCloseHandling(): void {
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype as unknown as ConnectionInternals;
  const original = proto._createParser;
  proto._createParser = function createParser(this: ConnectionInternals) {
    const parser = original.call(this);
    parser.once('finish', () => {
      // The turn after the last reply was written: a pipelined QUIT has closed already.
      setImmediate(() => {
        if (this._parser !== parser || parser.isClosed || this._closing) return;
        this.close();
      });
    });
    return parser;
  };
}

/**
 * A socket the client half-closed reports 'open' while our side can still write (see
 * above). Set once per such socket, on the instance; Node's own code does not read it.
 */
export function writableWhenHalfClosed(socket: Socket | undefined): void {
  if (socket?.readyState !== 'writeOnly') return;
  Object.defineProperty(socket, 'readyState', {
    configurable: true,
    get: () => (socket.writable && !socket.destroyed ? 'open' : 'closed'),
  });
}
