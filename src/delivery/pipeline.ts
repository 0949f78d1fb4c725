/**
 * MailPipeline: the end of DATA, from raw MIME to one POST /v2/emails per recipient.
 *
 * convertMessage → account (X-Account-Id must be one of the token's accounts) → sender
 * (X-Sender-Id, else the MAIL FROM verdict, else a fresh lookup) → skip recipients the
 * ledger says Cakemail already accepted, or that another delivery of the same message is
 * sending (claims.ts) → submit the rest, DELIVERY_CONCURRENCY at a time, each with retries
 * (submit.ts) → record each acceptance in the ledger at once → one reply for the whole
 * message (outcome.ts).
 */
import { randomBytes } from 'node:crypto';
import type { CakemailAuthenticator } from '../cakemail/authenticator.ts';
import type { CakemailClient } from '../cakemail/client.ts';
import { CakemailError, isCakemailError } from '../cakemail/errors.ts';
import { SubmitEmailBodies } from '../cakemail/email-body.ts';
import { SenderDirectory } from '../cakemail/sender-directory.ts';
import type { SubmitEmail } from '../cakemail/types.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { convertMessage, type ConvertedMessage, type ConvertOptions } from '../mail/convert.ts';
import {
  cakemailDeliveryOutcomesTotal,
  cakemailDuplicateSkipsTotal,
  cakemailEmailsForwardedTotal,
} from '../metrics/worker-metrics.ts';
import type {
  AuthenticatedAccount,
  DeliveryReceipt,
  DeliveryTiming,
  IncomingMessage,
  MailPipeline,
  SenderVerdict,
  SessionContext,
} from '../smtp/contracts.ts';
import { REPLIES, SmtpReplyError } from '../smtp/replies.ts';
import { DeliveryClaims, claimKey } from './claims.ts';
import { ledgerKey, type DeliveryLedger } from './ledger.ts';
import { decide, lookupFailureReply, recipientOutcome, type RecipientResult } from './outcome.ts';
import { submitWithRetry } from './submit.ts';
import { UpstreamClock } from './upstream-clock.ts';

export interface MailPipelineDeps {
  config: Config;
  client: CakemailClient;
  authenticator: CakemailAuthenticator;
  ledger: DeliveryLedger;
  log: Logger;
  /** Shared with other users of the same client (defaults to a new one). */
  senders?: SenderDirectory;
  /** How long a delivery runs before it claims its recipients (claims.ts; tests: 0 = at once). */
  claimAfterMs?: number;
}

export function createMailPipeline(deps: MailPipelineDeps): MailPipeline {
  const { config, client, authenticator, ledger } = deps;
  const senders =
    deps.senders ?? new SenderDirectory({ client, authenticator, maxEntries: config.AUTH_CACHE_SIZE });
  const conversion = convertOptions(config);
  const claims = new DeliveryClaims(
    ledger,
    deps.log,
    deps.claimAfterMs === undefined ? {} : { claimAfterMs: deps.claimAfterMs },
  );
  /** False once the worker's drain has ended: no Cakemail call starts any more (stopCalls). */
  let callsOpen = true;
  const areCallsOpen = () => callsOpen;

  async function resolveSender(
    msg: IncomingMessage,
    converted: ConvertedMessage,
    accountId: number | undefined,
  ): Promise<{ id: string }> {
    const { account } = msg;
    try {
      const named = converted.control.senderId;
      if (named !== undefined) {
        const s = await senders.findById(account, named, accountId);
        if (!s) throw new SmtpReplyError('senderIdUnknown', { id: named });
        return { id: s.id };
      }
      // The MAIL FROM verdict was made against the default account: reuse it only then.
      if (msg.sender.senderId !== undefined && accountId === undefined) return { id: msg.sender.senderId };
      const address = msg.sender.address || msg.mailFrom;
      const s = address ? await senders.findByAddress(account, address, accountId) : undefined;
      if (!s) throw new SmtpReplyError('senderNotConfirmed', { address: address || '<>' });
      return { id: s.id };
    } catch (err) {
      if (isCakemailError(err)) throw new SmtpReplyError(lookupFailureReply(err), { detail: err.detail });
      throw err;
    }
  }

  async function alreadyAccepted(keys: string[], log: Logger, queueId: string): Promise<Set<string>> {
    try {
      return await ledger.accepted(keys);
    } catch (err) {
      // The ledger prevents duplicates; it must never stop mail.
      log.warn(
        { queueId, err: (err as Error).message },
        'delivery ledger unavailable (lookup); sending all recipients',
      );
      return new Set();
    }
  }

  async function remember(keys: string[], log: Logger, queueId: string): Promise<void> {
    try {
      await ledger.record(keys, config.DEDUP_TTL);
    } catch (err) {
      log.warn(
        { queueId, err: (err as Error).message },
        'delivery ledger unavailable (record); a client retry may resend',
      );
    }
  }

  return {
    checkSender(account: AuthenticatedAccount, address: string, ctx: SessionContext): Promise<SenderVerdict> {
      return senders.checkSender(account, address, ctx);
    },

    async deliver(
      msg: IncomingMessage,
      ctx: SessionContext,
      timing?: DeliveryTiming,
    ): Promise<DeliveryReceipt> {
      const upstream = new UpstreamClock();
      try {
        return await deliverTimed(msg, ctx, upstream);
      } finally {
        if (timing) timing.upstreamSeconds = upstream.seconds;
      }
    },

    stopCalls(): void {
      callsOpen = false;
    },
  };

  async function deliverTimed(
    msg: IncomingMessage,
    ctx: SessionContext,
    upstream: UpstreamClock,
  ): Promise<DeliveryReceipt> {
    // The drain has ended and this session is being closed: nothing of it was sent.
    if (!callsOpen) throw new SmtpReplyError('shuttingDown');
    const queueId = newQueueId();
    // queueId goes in each line rather than in a child logger: pino builds a child's
    // bindings (their JSON) at once, a cost per message even when nothing logs.
    const log = ctx.log;
    const deadline = Date.now() + config.DELIVERY_DEADLINE_MS;

    const converted = await convertMessage(msg.raw, conversion);
    const accountId = converted.control.accountId;
    if (accountId !== undefined && !msg.account.accounts.includes(accountId)) {
      throw new SmtpReplyError('accountNotAllowed', { id: accountId });
    }
    const sender = await upstream.track(() => resolveSender(msg, converted, accountId));
    const bodies = new SubmitEmailBodies(submitBody(converted, sender.id));

    // Who sent it, for the ledger: the username (stable across password changes) and
    // the account the mail goes out of. Hashed with the rest: never stored as such.
    const accountKey = `${msg.account.username.trim().toLowerCase()}|${accountId ?? ''}`;
    const recipients = uniqueRecipients(msg.rcptTo);
    const keys = new Map<string, string>();
    // Each recipient's key and its claim (claims.ts): one lookup for both.
    const lookup: string[] = [];
    for (const r of recipients) {
      const key = ledgerKey(accountKey, r, converted.digest);
      keys.set(r, key);
      lookup.push(key, claimKey(key));
    }
    const done = await alreadyAccepted(lookup, log, queueId);

    // A message with neither a Date nor a Message-ID of its own (a script's alert, sent
    // again and again with the same text) looks the same on a client's retry and on a
    // deliberate second send: remembering its acceptances would drop the second send with
    // a 250 for DEDUP_TTL. So they are remembered only when the reply asks for a retry,
    // which is what the ledger is for; a 250 leaves nothing behind.
    const rememberAtOnce = converted.identified;
    const unremembered: string[] = [];
    const results: RecipientResult[] = [];
    const todo: string[] = [];
    for (const r of recipients) {
      const key = keys.get(r) ?? '';
      if (done.has(key)) results.push({ recipient: r, status: 'skipped' });
      else if (done.has(claimKey(key))) results.push({ recipient: r, status: 'inFlight' });
      else todo.push(r);
    }

    const claim = claims.begin(
      todo.map((r) => keys.get(r) ?? ''),
      deadline + config.CAKEMAIL_TIMEOUT_MS,
    );
    await forEachLimit(todo, config.DELIVERY_CONCURRENCY, async (recipient) => {
      try {
        const res = await upstream.track(() =>
          submitWithRetry(
            client,
            authenticator,
            {
              credentialKey: msg.account.credentialKey,
              body: bodies.for(recipient),
              ...(accountId === undefined ? {} : { accountId }),
              deadline,
              callsOpen: areCallsOpen,
            },
            { maxAttempts: config.DELIVERY_MAX_ATTEMPTS, baseDelayMs: config.DELIVERY_RETRY_BASE_MS },
          ),
        );
        // Recorded now, not at the end: a crash later in the fan-out still remembers it.
        const key = keys.get(recipient) ?? '';
        if (rememberAtOnce) await remember([key], log, queueId);
        else unremembered.push(key);
        results.push({ recipient, status: 'accepted' });
        log.debug({ queueId, emailId: res.data.id }, 'recipient accepted by Cakemail');
      } catch (err) {
        const error = isCakemailError(err)
          ? err
          : new CakemailError('unavailable', 'emails', 0, (err as Error)?.message ?? 'unexpected error');
        if (!isCakemailError(err)) log.error({ queueId, err }, 'unexpected error submitting a recipient');
        results.push({ recipient, status: 'failed', error });
      }
    });

    for (const r of results) cakemailEmailsForwardedTotal.inc({ outcome: recipientOutcome(r) });
    const decision = decide(results);
    const retryAsked = decision.reply !== undefined && REPLIES[decision.reply.key].code < 500;
    if (retryAsked && unremembered.length > 0) await remember(unremembered, log, queueId);
    // After the acceptances are recorded: a resend then meets them, not a gap.
    claim.end();
    // A deferral or partial delivery will be retried: the records must reach the other
    // workers before the client can act on the reply.
    if (decision.reply) ledger.publishNow?.();
    cakemailDeliveryOutcomesTotal.inc({ outcome: decision.outcome });
    if (decision.skipped > 0) cakemailDuplicateSkipsTotal.inc(decision.skipped);
    log.info(
      {
        queueId,
        outcome: decision.outcome,
        recipients: decision.total,
        accepted: decision.accepted,
        skipped: decision.skipped,
        failures: results.flatMap((r) =>
          r.status === 'failed' ? [{ kind: r.error.kind, status: r.error.status }] : [],
        ),
      },
      'delivery to Cakemail finished',
    );
    if (decision.reply) throw new SmtpReplyError(decision.reply.key, decision.reply.vars);
    return { queueId, skippedDuplicates: decision.skipped };
  }
}

/** What convertMessage takes from the config (the same for every message). */
export function convertOptions(config: Config): ConvertOptions {
  return {
    defaultType: config.DEFAULT_EMAIL_TYPE,
    ...(config.DEFAULT_LIST_ID === undefined ? {} : { defaultListId: config.DEFAULT_LIST_ID }),
    maxDepth: config.MIME_MAX_DEPTH,
    maxParts: config.MIME_MAX_PARTS,
    maxHeaderBytes: config.MIME_MAX_HEADER_BYTES,
    hostname: config.SMTP_HOSTNAME,
  };
}

/**
 * The SubmitEmail fields common to every recipient of the message. Serialised once
 * (SubmitEmailBodies), so it shares the converted message's objects instead of copying them.
 */
export function submitBody(c: ConvertedMessage, senderId: string): Omit<SubmitEmail, 'email'> {
  const { control } = c;
  const name = c.from?.name?.trim();
  const body: Omit<SubmitEmail, 'email'> = {
    sender: name ? { id: senderId, name } : { id: senderId },
    content: c.content,
  };
  if (control.listId !== undefined) body.list_id = control.listId;
  if (control.tags && control.tags.length > 0) body.tags = control.tags;
  if (control.tracking) body.tracking = control.tracking;
  if (c.additionalHeaders.length > 0) body.additional_headers = c.additionalHeaders;
  const [first, ...rest] = c.attachments;
  if (first) body.attachment = rest.length === 0 ? first : [first, ...rest];
  return body;
}

/** Envelope recipients once each (case-insensitively): one API call per address. */
function uniqueRecipients(rcpt: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const r of rcpt) {
    const k = r.trim().toLowerCase();
    if (!k || seen.has(k)) continue;
    seen.add(k);
    out.push(r.trim());
  }
  return out;
}

async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  // One recipient (most mail): no array of workers, no closures.
  if (items.length === 1) return fn(items[0] as T);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
}

/** 36^6: the six characters after the time. */
const QUEUE_ID_SPACE = 2_176_782_336;
/** Random per process, then counted: a workers' ids never meet in the same millisecond in practice. */
let queueIdCounter = randomBytes(4).readUInt32BE(0) % QUEUE_ID_SPACE;

/**
 * Short, unique, roughly time-ordered: base36 milliseconds + 6 base36 chars of a counter
 * that starts at a random point per process (a `randomBytes` call per message was ~2 % of
 * a worker's CPU in bench (a); uniqueness is all a queue id needs, not secrecy).
 */
export function newQueueId(): string {
  queueIdCounter = (queueIdCounter + 1) % QUEUE_ID_SPACE;
  return `${Date.now().toString(36)}${queueIdCounter.toString(36).padStart(6, '0')}`.toUpperCase();
}
