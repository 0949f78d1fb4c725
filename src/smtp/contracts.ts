/**
 * The two seams between the SMTP surface and the Cakemail side. The session hooks
 * (src/smtp/session-hooks.ts) only know these interfaces; src/cakemail and
 * src/delivery implement them, tests may pass their own.
 *
 * Both signal refusals by throwing SmtpReplyError (src/smtp/replies.ts); any other
 * error becomes `451 4.3.0 Local error` so nothing is ever silently lost.
 */
import type { Logger } from '../log.ts';

/** What the gateway knows about a session, for logs and per-IP state. */
export interface SessionContext {
  readonly sessionId: string;
  readonly remoteAddress: string;
  readonly log: Logger;
}

/**
 * An authenticated Cakemail identity. `credentialKey` is a keyed hash of the
 * credentials (never the password); the token itself stays inside the authenticator.
 */
export interface AuthenticatedAccount {
  readonly username: string;
  readonly credentialKey: string;
  readonly accounts: readonly number[];
}

export interface Authenticator {
  /** Resolves the account, or throws SmtpReplyError authInvalid | authMfa | authUnavailable. */
  authenticate(username: string, password: string, ctx: SessionContext): Promise<AuthenticatedAccount>;
}

/** Result of the MAIL FROM check; `senderId` unset means "must come from X-Sender-Id". */
export interface SenderVerdict {
  readonly address: string;
  readonly senderId?: string;
  readonly senderName?: string;
}

export interface IncomingMessage {
  readonly account: AuthenticatedAccount;
  readonly mailFrom: string;
  readonly rcptTo: readonly string[];
  readonly sender: SenderVerdict;
  /** The whole message as received (bounded by MESSAGE_SIZE_LIMIT). */
  readonly raw: Buffer;
}

export interface DeliveryReceipt {
  /** Gateway queue id shown in `250 2.0.0 Ok: queued as <id>`. */
  readonly queueId: string;
  /** Recipients skipped because Cakemail had accepted them on an earlier attempt. */
  readonly skippedDuplicates: number;
}

/** What deliver() reports about its own time, success or not (smtp_data_added_latency_seconds). */
export interface DeliveryTiming {
  /** Wall time spent waiting on the Cakemail API (calls and their retries). */
  upstreamSeconds: number;
}

export interface MailPipeline {
  /** MAIL FROM: look the sender up; throws only for failures that must refuse MAIL now. */
  checkSender(account: AuthenticatedAccount, address: string, ctx: SessionContext): Promise<SenderVerdict>;
  /** End of DATA: parse, submit one email per recipient; resolves only when all were accepted. */
  deliver(message: IncomingMessage, ctx: SessionContext, timing?: DeliveryTiming): Promise<DeliveryReceipt>;
  /**
   * A stopping worker's drain has ended: start no upstream call from now on. Deliveries
   * under way finish the calls already made and answer for the rest (451); a new one is
   * refused with 421. Calls in flight are never cut: they may have acted upstream.
   */
  stopCalls?(): void;
}
