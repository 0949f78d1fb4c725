/**
 * Replies from the table (replies.ts) as the session hooks send them: each one counted in
 * `smtp_replies_total` by key and class, and anything that is not a reply from the table
 * turned into 451 4.3.0 (retry, never a silent loss).
 */
import type { Logger } from '../log.ts';
import { smtpRepliesTotal } from '../metrics/worker-metrics.ts';
import { REPLIES, SmtpReplyError, type ReplyKey } from './replies.ts';

/** Counts a reply chosen from the table, then hands it to smtp-server. */
export function refuse(key: ReplyKey, vars?: Record<string, string | number>): SmtpReplyError {
  countReply(key);
  return new SmtpReplyError(key, vars);
}

export function countReply(key: ReplyKey): void {
  smtpRepliesTotal.inc({ reply: key, class: `${String(REPLIES[key].code)[0]}xx` });
}

/** Anything that is not a reply from the table becomes 451 4.3.0: retry, never a silent loss. */
export function asReply(err: unknown, log: Logger): SmtpReplyError {
  if (err instanceof SmtpReplyError) {
    countReply(err.key);
    return err;
  }
  log.error(
    { event: 'smtp.internal_error', err: (err as Error)?.message, stack: (err as Error)?.stack },
    'unexpected error',
  );
  return refuse('localError');
}
