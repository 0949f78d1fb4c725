/**
 * The confirmed senders of an account, looked up with GET /brands/default/senders and
 * cached per (credentials, account) for a short while (single flight), so MAIL FROM and
 * the end of DATA do not each cost a call.
 *
 * Policy: MAIL FROM never refuses because the lookup failed (the X-Sender-Id header,
 * only readable at DATA, may name the sender anyway). The verdict then has no senderId
 * and the end of DATA looks again; failing there is a temporary 451.
 */
import type { AuthenticatedAccount, SenderVerdict, SessionContext } from '../smtp/contracts.ts';
import type { CakemailAuthenticator } from './authenticator.ts';
import type { CakemailClient } from './client.ts';
import { isCakemailError } from './errors.ts';
import { LruTtlCache } from './token-cache.ts';
import type { SenderFull } from './types.ts';

export interface SenderDirectoryOptions {
  client: CakemailClient;
  authenticator: CakemailAuthenticator;
  ttlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

export class SenderDirectory {
  readonly #client: CakemailClient;
  readonly #auth: CakemailAuthenticator;
  readonly #ttlMs: number;
  readonly #cache: LruTtlCache<SenderFull[]>;
  readonly #inflight = new Map<string, Promise<SenderFull[]>>();

  constructor(o: SenderDirectoryOptions) {
    this.#client = o.client;
    this.#auth = o.authenticator;
    this.#ttlMs = o.ttlMs ?? 60_000;
    this.#cache = new LruTtlCache(o.maxEntries ?? 10_000, o.now);
  }

  /** Confirmed senders of the account (the token's default account when accountId is unset). Throws CakemailError. */
  async confirmed(account: AuthenticatedAccount, accountId?: number): Promise<SenderFull[]> {
    // Keyed by credentials too: a sender list is only shown to credentials that fetched it.
    const key = `${account.credentialKey}|${accountId ?? ''}`;
    const cached = this.#cache.get(key);
    if (cached) return cached;
    let flight = this.#inflight.get(key);
    if (!flight) {
      flight = this.#auth
        .withToken(account.credentialKey, (token) => this.#client.listSenders(token, accountId))
        .then((all) => {
          const list = all.filter((s) => s.confirmed);
          this.#cache.set(key, list, this.#ttlMs);
          return list;
        })
        .finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, flight);
    }
    return flight;
  }

  async findByAddress(
    account: AuthenticatedAccount,
    address: string,
    accountId?: number,
  ): Promise<SenderFull | undefined> {
    const wanted = address.trim().toLowerCase();
    return (await this.confirmed(account, accountId)).find((s) => s.email.trim().toLowerCase() === wanted);
  }

  async findById(
    account: AuthenticatedAccount,
    id: string,
    accountId?: number,
  ): Promise<SenderFull | undefined> {
    return (await this.confirmed(account, accountId)).find((s) => s.id === id);
  }

  /** MAIL FROM: never throws for a failed lookup; see the module comment. */
  async checkSender(
    account: AuthenticatedAccount,
    address: string,
    ctx: SessionContext,
  ): Promise<SenderVerdict> {
    try {
      const s = address ? await this.findByAddress(account, address) : undefined;
      return s ? { address, senderId: s.id, senderName: s.name } : { address };
    } catch (err) {
      if (!isCakemailError(err)) throw err;
      ctx.log.warn(
        { kind: err.kind, status: err.status },
        'sender lookup failed at MAIL FROM; retried at end of DATA',
      );
      return { address };
    }
  }
}
