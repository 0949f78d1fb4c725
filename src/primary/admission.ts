/**
 * Connection admission for the whole pod: the primary counts open SMTP connections
 * per client IP and in total across ALL workers (smtp-server's maxClients only sees
 * one process). Counts are kept per worker too, so a worker that dies releases its
 * connections at once.
 */
import type { AdmissionVerdict } from '../ipc/messages.ts';

export interface AdmissionLimits {
  maxPerPod: number;
  maxPerIp: number;
  isTrusted(ip: string): boolean;
}

export class ConnectionTable {
  #total = 0;
  readonly #perIp = new Map<string, number>();
  readonly #perWorker = new Map<number, Map<string, number>>();
  readonly #limits: AdmissionLimits;
  draining = false;

  constructor(limits: AdmissionLimits) {
    this.#limits = limits;
  }

  get total(): number {
    return this.#total;
  }

  /** `lockedOut` comes from the SharedStore (which may be remote), asked before. */
  open(workerId: number, ip: string, lockedOut: boolean): AdmissionVerdict {
    if (this.draining) return 'draining';
    const trusted = this.#limits.isTrusted(ip);
    if (!trusted && lockedOut) return 'locked_out';
    if (this.#total >= this.#limits.maxPerPod) return 'pod_limit';
    const current = this.#perIp.get(ip) ?? 0;
    if (!trusted && current >= this.#limits.maxPerIp) return 'ip_limit';
    this.#perIp.set(ip, current + 1);
    let mine = this.#perWorker.get(workerId);
    if (!mine) this.#perWorker.set(workerId, (mine = new Map()));
    mine.set(ip, (mine.get(ip) ?? 0) + 1);
    this.#total += 1;
    return 'ok';
  }

  close(workerId: number, ip: string): void {
    const mine = this.#perWorker.get(workerId);
    const n = mine?.get(ip);
    if (!mine || !n) return; // never admitted (refused) or already released
    if (n === 1) mine.delete(ip);
    else mine.set(ip, n - 1);
    this.#release(ip, 1);
  }

  /** A worker exited: everything it held is gone. */
  releaseWorker(workerId: number): void {
    const mine = this.#perWorker.get(workerId);
    if (!mine) return;
    for (const [ip, n] of mine) this.#release(ip, n);
    this.#perWorker.delete(workerId);
  }

  #release(ip: string, n: number): void {
    const left = (this.#perIp.get(ip) ?? 0) - n;
    if (left > 0) this.#perIp.set(ip, left);
    else this.#perIp.delete(ip);
    this.#total -= n;
  }
}
