/**
 * Connection admission asked of the primary the moment a socket reaches this worker,
 * not when smtp-server calls onConnect.
 *
 * Why: smtp-server waits a fixed 100 ms after accept (its early-talker check) and only
 * then calls onConnect; asking the primary there put a whole IPC round trip after that
 * wait, on every banner — tens of milliseconds when the primary or this event loop is
 * busy with TLS handshakes (bench (e): the gateway's banner p99 was 40–70 ms above the
 * bare library's). Asked at accept, the round trip runs during the wait.
 *
 * Counting stays exact: the primary counts a connection when it answers `ok`. A socket
 * that closes before onConnect takes its admission (an early talker, a client that left,
 * smtp-server's own maxClients refusal) gives a granted one back (`connection.closed`).
 */
import type { Socket } from 'node:net';
import type { AdmissionVerdict } from '../ipc/messages.ts';

export interface Admission {
  verdict: AdmissionVerdict;
  /**
   * false: the primary did not answer in time and the worker failed open; nothing for the
   * session to give back (an `ok` answered late is given back on arrival: session-hooks.ts).
   */
  counted: boolean;
}

export interface EarlyAdmissionDeps {
  /** Asks the primary (`connection.open`); must not reject: failing open is its job. */
  ask: (ip: string) => Promise<Admission>;
  /** Gives a counted connection back (`connection.closed`). */
  release: (ip: string) => void;
}

/** The address as smtp-server's session carries it (IPv4-mapped prefix off, lowercase). */
export function sessionAddress(raw: string | undefined): string {
  return (raw ?? '')
    .trim()
    .replace(/^::ffff:/i, '')
    .toLowerCase();
}

export class EarlyAdmission {
  readonly #pending = new Map<string, Promise<Admission>>();
  readonly #deps: EarlyAdmissionDeps;

  constructor(deps: EarlyAdmissionDeps) {
    this.#deps = deps;
  }

  /**
   * For the SMTP net.Server's 'connection' event.
   *
   * Asked only for a socket that can be told apart from every other one pending: one reset
   * before this worker read its peer address has none (`remoteAddress` undefined: it is
   * already gone), and all such sockets would share one key, each overwriting the last
   * one's admission, whose release was then lost (an RST flood left the pod's count at
   * its limit). A session of such a socket, or of a key already pending, asks at onConnect.
   */
  onSocket(socket: Socket): void {
    if (socket.remoteAddress === undefined) return;
    const ip = sessionAddress(socket.remoteAddress);
    const key = keyOf(ip, socket.remotePort);
    if (this.#pending.has(key)) return; // never overwrite a pending admission: its release would be lost
    const admission = this.#deps.ask(ip);
    this.#pending.set(key, admission);
    socket.once('close', () => {
      if (this.#pending.get(key) !== admission) return; // taken by onConnect: the session owns it
      this.#pending.delete(key);
      void admission.then((a) => {
        if (a.verdict === 'ok' && a.counted) this.#deps.release(ip);
      });
    });
  }

  /**
   * The admission of a session: the one asked at accept, or (socket not seen) asked now.
   * A limit refusal from accept time is asked again: connections of the same client may
   * have closed during the wait (a client at MAX_CONNECTIONS_PER_IP that closes one and
   * opens the next at once), and a refusal costs nothing to re-check. Counted nothing,
   * so there is nothing to give back.
   */
  take(ip: string, port: number | undefined): Promise<Admission> {
    const key = keyOf(ip, port);
    const early = this.#pending.get(key);
    if (early === undefined) return this.#deps.ask(ip);
    this.#pending.delete(key);
    return early.then((a) => (LIMITS.has(a.verdict) ? this.#deps.ask(ip) : a));
  }

  /** Admissions asked and not yet taken. */
  get pending(): number {
    return this.#pending.size;
  }
}

/** Refusals that depend on other connections, which may have closed since accept. */
const LIMITS: ReadonlySet<AdmissionVerdict> = new Set(['ip_limit', 'pod_limit']);

function keyOf(ip: string, port: number | undefined): string {
  return `${ip}|${port ?? 0}`;
}
