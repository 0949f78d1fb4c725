/**
 * smtp-server picks the enhanced status code of an application error from its own
 * code→enhanced map (451 → 4.3.0, 452 → 4.2.2, 550 → 5.1.1, ...), which cannot say
 * "452 4.5.3" or "550 5.7.1". Our reply table owns enhanced codes, so every message we
 * hand to smtp-server already starts with one; this wrapper of the connection's public
 * `send()` passes such messages through as they are (context `false` = "add none")
 * and leaves the library's own replies untouched. It also batches the replies of one
 * event-loop turn into one TLS write (reply-coalescing.ts), and lets a reply reach a client
 * that half-closed (half-close.ts). Installed once per process.
 *
 * Reply text is printable ASCII (RFC 5321 4.2): smtp-server names a client's bad parameter
 * back ("duplicate X parameter"), and a name holding invalid UTF-8 went out as the UTF-8 of
 * U+FFFD. Any other character becomes '?' here, in the one place every reply passes.
 */
import type { Socket } from 'node:net';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { writableWhenHalfClosed } from './half-close.ts';
import { coalesceReplies } from './reply-coalescing.ts';

const CARRIES_ENHANCED = /^[245]\.\d{1,3}\.\d{1,3} /;
const NOT_PRINTABLE = /[^\x20-\x7e]/;
const NOT_PRINTABLE_ALL = /[^\x20-\x7e]/g;
let installed = false;

function printable(text: string): string {
  return NOT_PRINTABLE.test(text) ? text.replace(NOT_PRINTABLE_ALL, '?') : text;
}

export function installReplyShim(): void {
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype as unknown as {
    send(code: number, data?: string | string[], context?: string | false): void;
  };
  const original = proto.send;
  proto.send = function send(this: { _socket?: Socket }, code, data, context) {
    writableWhenHalfClosed(this._socket);
    coalesceReplies(this._socket);
    if (typeof data === 'string') data = printable(data);
    else if (Array.isArray(data)) data = data.map(printable);
    if (typeof data === 'string' && CARRIES_ENHANCED.test(data))
      return original.call(this, code, data, false);
    return original.call(this, code, data, context);
  };
}
