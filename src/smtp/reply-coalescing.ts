/**
 * Replies written in one event-loop turn leave in one TLS record and one write(2).
 *
 * A pipelining client sends MAIL, RCPT and DATA in one packet; smtp-server answers each
 * with its own `socket.write`, so without this every message costs three TLS records and
 * three syscalls (each waking the client) before the body even starts. Corking the TLS
 * socket at the first reply of a turn and uncorking once in `setImmediate` (after the
 * poll phase that produced them) sends them together. A reply that waits for real I/O
 * (the Cakemail call after DATA) comes in a later turn and is flushed in that turn.
 *
 * Only TLS sockets are corked: a plaintext socket carries the 220 before STARTTLS, which
 * must be on the wire before the handshake takes the socket over.
 */
import type { Socket } from 'node:net';

const corked = new Set<Socket>();
let scheduled = false;

function flush(): void {
  scheduled = false;
  for (const socket of corked) {
    // end() and destroy() already flushed or dropped what was buffered.
    if (socket.writableCorked > 0) socket.uncork();
  }
  corked.clear();
}

/** Call before each reply is written on `socket`. */
export function coalesceReplies(socket: Socket | undefined): void {
  if (!socket || !(socket as Socket & { encrypted?: boolean }).encrypted || socket.destroyed) return;
  if (corked.has(socket)) return;
  socket.cork();
  corked.add(socket);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}
