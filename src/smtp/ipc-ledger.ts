/** The delivery ledger as seen from a worker: the primary's SharedStore, over IPC. */
import type { DeliveryLedger } from '../delivery/ledger.ts';
import type { PrimaryLink } from './primary-link.ts';

export class IpcLedger implements DeliveryLedger {
  readonly #link: PrimaryLink;
  constructor(link: PrimaryLink) {
    this.#link = link;
  }
  async accepted(keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    return new Set((await this.#link.request('ledger.accepted', { keys })).keys);
  }
  async record(keys: string[], ttlSeconds: number): Promise<void> {
    if (keys.length === 0) return;
    await this.#link.request('ledger.record', { keys, ttlSeconds });
  }
}
