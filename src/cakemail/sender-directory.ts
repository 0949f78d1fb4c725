/**
 * The confirmed senders of an account, looked up with GET /brands/default/senders and
 * cached per (credentials, account) for a short while (single flight), so MAIL FROM and
 * the end of DATA do not each cost a call.
 *
 * Policy: MAIL FROM never refuses because the lookup failed (the X-Sender-Id header,
 * only readable at DATA, may name the sender anyway). The verdict then has no senderId
 * and the end of DATA looks again; failing there is a temporary 451.
 *
 * Not finding a sender ends in a permanent 550, so a miss is not answered from a list
 * older than `missRefetchMs` (default 5 s): that list is fetched again first. A sender the
 * owner has just confirmed is found at once, not refused until the cache expires, and a
 * client insisting on an unknown sender costs at most one call per `missRefetchMs`.
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
  /** A miss in a list older than this fetches the list again (see above). */
  missRefetchMs?: number;
  maxEntries?: number;
  now?: () => number;
}

interface Listing {
  readonly confirmed: SenderFull[];
  readonly fetchedAt: number;
}

export class SenderDirectory {
  readonly #client: CakemailClient;
  readonly #auth: CakemailAuthenticator;
  readonly #ttlMs: number;
  readonly #missRefetchMs: number;
  readonly #now: () => number;
  readonly #cache: LruTtlCache<Listing>;
  readonly #inflight = new Map<string, Promise<Listing>>();

  constructor(o: SenderDirectoryOptions) {
    this.#client = o.client;
    this.#auth = o.authenticator;
    this.#ttlMs = o.ttlMs ?? 60_000;
    this.#missRefetchMs = o.missRefetchMs ?? 5_000;
    this.#now = o.now ?? Date.now;
    this.#cache = new LruTtlCache(o.maxEntries ?? 10_000, this.#now);
  }

  /** Confirmed senders of the account (the token's default account when accountId is unset). Throws CakemailError. */
  async confirmed(account: AuthenticatedAccount, accountId?: number): Promise<SenderFull[]> {
    const key = keyOf(account, accountId);
    return (this.#cache.get(key) ?? (await this.#fetch(key, account, accountId))).confirmed;
  }

  async findByAddress(
    account: AuthenticatedAccount,
    address: string,
    accountId?: number,
  ): Promise<SenderFull | undefined> {
    const wanted = address.trim().toLowerCase();
    return this.#find(account, accountId, (s) => s.email.trim().toLowerCase() === wanted);
  }

  async findById(
    account: AuthenticatedAccount,
    id: string,
    accountId?: number,
  ): Promise<SenderFull | undefined> {
    return this.#find(account, accountId, (s) => s.id === id);
  }

  async #find(
    account: AuthenticatedAccount,
    accountId: number | undefined,
    match: (s: SenderFull) => boolean,
  ): Promise<SenderFull | undefined> {
    const key = keyOf(account, accountId);
    const cached = this.#cache.get(key);
    if (cached) {
      const hit = cached.confirmed.find(match);
      // A miss is a 550: only from a recent list (see the module comment).
      if (hit || this.#now() - cached.fetchedAt < this.#missRefetchMs) return hit;
    }
    return (await this.#fetch(key, account, accountId)).confirmed.find(match);
  }

  #fetch(key: string, account: AuthenticatedAccount, accountId: number | undefined): Promise<Listing> {
    let flight = this.#inflight.get(key);
    if (!flight) {
      flight = this.#auth
        .withToken(account.credentialKey, (token) => this.#client.listSenders(token, accountId))
        .then((all) => {
          const listing = { confirmed: all.filter((s) => s.confirmed), fetchedAt: this.#now() };
          this.#cache.set(key, listing, this.#ttlMs);
          return listing;
        })
        .finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, flight);
    }
    return flight;
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

/** Keyed by credentials too: a sender list is only shown to credentials that fetched it. */
function keyOf(account: AuthenticatedAccount, accountId: number | undefined): string {
  return `${account.credentialKey}|${accountId ?? ''}`;
}
