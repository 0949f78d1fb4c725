/**
 * The Cakemail side of an SMTP worker, built from the configuration: one API client
 * (one keep-alive pool, one circuit breaker), the authenticator and the mail pipeline.
 * The worker calls exactly `createCakemailSide(config, { authKey, ledger, log })`.
 */
import type { Config } from '../config/schema.ts';
import type { DeliveryLedger } from '../delivery/ledger.ts';
import { createMailPipeline } from '../delivery/pipeline.ts';
import type { Logger } from '../log.ts';
import type { Authenticator, MailPipeline } from '../smtp/contracts.ts';
import { CakemailAuthenticator } from './authenticator.ts';
import { createBreaker } from './breaker.ts';
import { CakemailClient } from './client.ts';
import { SenderDirectory } from './sender-directory.ts';

export interface CakemailSideOptions {
  /** Per-pod secret for credential keys (memory only). */
  authKey: Buffer;
  ledger: DeliveryLedger;
  log: Logger;
  /** Overrides config.CAKEMAIL_API_URL (tests, an embedded sandbox). */
  apiUrl?: string;
  /** How long a delivery runs before it claims its recipients (src/delivery/claims.ts; tests). */
  claimAfterMs?: number;
}

export interface CakemailSide {
  authenticator: Authenticator;
  pipeline: MailPipeline;
  close(): Promise<void>;
}

export function createCakemailSide(config: Config, opts: CakemailSideOptions): CakemailSide {
  const baseUrl = opts.apiUrl ?? config.CAKEMAIL_API_URL;
  if (!baseUrl) throw new Error('createCakemailSide: CAKEMAIL_API_URL is not set (start the sandbox first)');
  if (opts.authKey.length < 16) throw new Error('createCakemailSide: authKey must be at least 16 bytes');
  const log = opts.log.child({ component: 'cakemail' });
  const breaker = createBreaker({
    threshold: config.BREAKER_FAILURE_THRESHOLD,
    halfOpenAfterMs: config.BREAKER_HALF_OPEN_AFTER_MS,
  });
  const client = new CakemailClient({
    baseUrl,
    timeoutMs: config.CAKEMAIL_TIMEOUT_MS,
    connections: config.CAKEMAIL_CONNECTIONS,
    breaker,
  });
  const authenticator = new CakemailAuthenticator({
    client,
    secret: opts.authKey,
    cacheTtlMaxSeconds: config.AUTH_CACHE_TTL_MAX,
    negativeTtlSeconds: config.AUTH_NEGATIVE_CACHE_TTL,
    cacheSize: config.AUTH_CACHE_SIZE,
    // Tokens stay usable for delivery at least as long as an idle SMTP session may last.
    sessionIdleSeconds: Math.max(config.AUTH_CACHE_TTL_MAX, config.CONNECTION_TIMEOUT, 3600),
    log,
  });
  const senders = new SenderDirectory({ client, authenticator, maxEntries: config.AUTH_CACHE_SIZE });
  const pipeline = createMailPipeline({
    config,
    client,
    authenticator,
    ledger: opts.ledger,
    log,
    senders,
    ...(opts.claimAfterMs === undefined ? {} : { claimAfterMs: opts.claimAfterMs }),
  });
  return {
    authenticator,
    pipeline,
    async close() {
      breaker.dispose();
      await client.close();
    },
  };
}

export { CakemailAuthenticator } from './authenticator.ts';
export { CakemailClient } from './client.ts';
export { CakemailError, type CakemailErrorKind } from './errors.ts';
