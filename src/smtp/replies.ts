/**
 * THE table of SMTP replies the gateway itself chooses: code, enhanced status code
 * (RFC 3463) and text. Every refusal the code sends is built from a key of this table,
 * and the README's reply table is generated from it (`npm run docs:replies`), so the
 * two cannot drift. Replies smtp-server produces on its own (syntax errors, 354, 221)
 * are not listed.
 */

export interface ReplySpec {
  readonly code: number;
  readonly enhanced: string;
  readonly text: string;
  /** When the gateway sends it: one line for the README. */
  readonly when: string;
}

export const REPLIES = {
  queued: {
    code: 250,
    enhanced: '2.0.0',
    text: 'Ok: queued as {id}',
    when: 'Cakemail accepted the message for every recipient ({id} is the gateway queue id)',
  },
  alreadyAccepted: {
    code: 250,
    enhanced: '2.0.0',
    text: 'Ok: queued as {id} (already accepted earlier for {skipped} recipient(s), not sent twice)',
    when: 'A retried message whose recipients Cakemail had already accepted: they are skipped, not resent',
  },
  authSucceeded: {
    code: 235,
    enhanced: '2.7.0',
    text: 'Authentication successful',
    when: 'AUTH PLAIN/LOGIN accepted by Cakemail',
  },
  tooManyConnectionsPod: {
    code: 421,
    enhanced: '4.7.0',
    text: 'Too many connections to this server, try again later',
    when: 'MAX_CONNECTIONS_PER_POD reached (counted across all workers)',
  },
  tooManyConnectionsIp: {
    code: 421,
    enhanced: '4.7.0',
    text: 'Too many connections from your address, try again later',
    when: 'MAX_CONNECTIONS_PER_IP reached (counted across all workers)',
  },
  ipLockedOut: {
    code: 421,
    enhanced: '4.7.0',
    text: 'Too many failed authentications from your address, try again later',
    when: 'The client IP is locked out after repeated AUTH failures (at connect and at AUTH)',
  },
  authTimeout: {
    code: 421,
    enhanced: '4.7.0',
    text: 'Authentication not completed in time, closing connection',
    when: 'A session still unauthenticated AUTH_TIMEOUT seconds after connect (slowloris bound)',
  },
  shuttingDown: {
    code: 421,
    enhanced: '4.3.2',
    text: 'Service shutting down, try again later',
    when: 'The gateway is draining (SIGTERM or rolling restart) and takes no new command',
  },
  rateLimited: {
    code: 451,
    enhanced: '4.7.0',
    text: 'Message rate limit exceeded for your address, try again later',
    when: 'RATE_LIMIT_PER_IP messages per minute exceeded (at MAIL FROM, across all workers)',
  },
  tooManyRecipients: {
    code: 452,
    enhanced: '4.5.3',
    text: 'Too many recipients, send the rest in another message',
    when: 'More than MAX_RECIPIENTS RCPT TO in one transaction',
  },
  authUnavailable: {
    code: 454,
    enhanced: '4.7.0',
    text: 'Temporary authentication failure, try again later',
    when: 'The Cakemail API could not be asked to check the credentials (down, timeout, throttled)',
  },
  tlsRequired: {
    code: 530,
    enhanced: '5.7.0',
    text: 'Must issue a STARTTLS command first',
    when: 'AUTH before STARTTLS (RFC 3207)',
  },
  authRequired: {
    code: 530,
    enhanced: '5.7.0',
    text: 'Authentication required',
    when: 'MAIL, RCPT or DATA before a successful AUTH: the gateway never relays',
  },
  authInvalid: {
    code: 535,
    enhanced: '5.7.8',
    text: 'Authentication failed: username or password not accepted by Cakemail',
    when: 'Cakemail refused the credentials',
  },
  authMfa: {
    code: 535,
    enhanced: '5.7.8',
    text: 'Authentication failed: this Cakemail account uses multi-factor authentication, which SMTP cannot answer; use an account without MFA for SMTP',
    when: 'Cakemail answered the credentials with an MFA challenge',
  },
  authzidRefused: {
    code: 535,
    enhanced: '5.7.8',
    text: 'Authentication failed: acting as another identity (AUTH PLAIN authzid) is not supported',
    when: 'AUTH PLAIN named an authorization identity other than the username (RFC 4616)',
  },
  senderNotConfirmed: {
    code: 550,
    enhanced: '5.7.1',
    text: '{address} is not a confirmed sender of this Cakemail account',
    when: 'The envelope sender is not a confirmed sender and no X-Sender-Id header names one',
  },
  senderIdUnknown: {
    code: 550,
    enhanced: '5.7.1',
    text: 'X-Sender-Id {id} is not a confirmed sender of this Cakemail account',
    when: 'X-Sender-Id names a sender the account does not have (or not confirmed)',
  },
  senderLookupRefused: {
    code: 550,
    enhanced: '5.7.1',
    text: 'Cakemail refused to list the senders of this account: {detail}',
    when: 'The sender lookup at the end of DATA was refused (403, 400, 413 or 422): a retry would meet the same refusal',
  },
  accountNotAllowed: {
    code: 550,
    enhanced: '5.7.1',
    text: 'X-Account-Id {id} is not an account these credentials can use',
    when: "X-Account-Id names an account outside the token's accounts",
  },
  messageTooBig: {
    code: 552,
    enhanced: '5.3.4',
    text: 'Message size exceeds fixed maximum message size {size}',
    when: 'The message is larger than MESSAGE_SIZE_LIMIT (enforced while streaming)',
  },
  mimeTooComplex: {
    code: 554,
    enhanced: '5.6.0',
    text: 'Message structure too complex: {detail}',
    when: 'MIME nesting depth, part count or header size over the parser limits',
  },
  mimeInvalid: {
    code: 554,
    enhanced: '5.6.0',
    text: 'Message cannot be converted for Cakemail: {detail}',
    when: 'No subject, no text or HTML body, an invalid control header, or malformed MIME (boundary missing or never found, invalid base64, undecodable transfer encoding, text invalid in its charset, UTF-7), or a Message-ID holding no id',
  },
  contentUnsupported: {
    code: 554,
    enhanced: '5.6.1',
    text: 'Part {part} cannot be carried by the Cakemail API: {detail}',
    when: 'An attachment type outside the API enum (including attached messages, message/rfc822), or an image the HTML shows through cid:',
  },
  upstreamRejected: {
    code: 554,
    enhanced: '5.6.0',
    text: 'Cakemail refused the message for {recipient}: {detail}',
    when: 'Cakemail answered 400/422, 403, or data.status "rejected" (permanent)',
  },
  partiallyRejected: {
    code: 554,
    enhanced: '5.6.0',
    text: 'Cakemail refused the message for {recipient}: {detail} (it accepted {accepted} of {total} recipients; those are not sent again)',
    when: 'Cakemail refused a recipient permanently and accepted the others, now or on an earlier try (they are remembered and never resent)',
  },
  upstreamTooBig: {
    code: 552,
    enhanced: '5.3.4',
    text: 'Cakemail refused the message as too large: {detail}',
    when: 'Cakemail answered 413: the request, attachments included, is over its size limit',
  },
  parameterUnsupported: {
    code: 555,
    enhanced: '5.5.4',
    text: '{command} parameter {param} not supported',
    when: 'A MAIL FROM parameter other than SIZE, BODY, SMTPUTF8 and AUTH, or any RCPT TO parameter (DSN NOTIFY/ORCPT/RET/ENVID, REQUIRETLS: not offered) (RFC 5321 4.1.1.11)',
  },
  upstreamUnavailable: {
    code: 451,
    enhanced: '4.3.0',
    text: 'Cakemail API unavailable, try again later',
    when: 'Cakemail answered 5xx, refused the connection, or the circuit breaker is open',
  },
  upstreamThrottled: {
    code: 451,
    enhanced: '4.4.5',
    text: 'Cakemail API is rate limiting, try again later',
    when: 'Cakemail answered 429 until the retry deadline',
  },
  upstreamNoAnswer: {
    code: 451,
    enhanced: '4.4.1',
    text: 'No answer from the Cakemail API, try again later',
    when: 'A call timed out, the connection dropped after the request was sent, or a proxy answered 504 (ambiguous)',
  },
  deliveryInProgress: {
    code: 451,
    enhanced: '4.3.0',
    text: 'This message is being delivered on another connection, try again later',
    when: 'The same message to the same recipients is still being sent by an earlier attempt (a client that gave up waiting for its reply and sent it again)',
  },
  upstreamSessionExpired: {
    code: 451,
    enhanced: '4.7.0',
    text: 'Cakemail session could not be renewed, reconnect and authenticate again',
    when: 'Cakemail answered 401 and the refresh token was refused too',
  },
  partiallyDelivered: {
    code: 451,
    enhanced: '4.3.0',
    text: 'Accepted for {accepted} of {total} recipients; send the same message again and only the rest will be sent',
    when: 'Some recipients accepted, others failed temporarily, maybe beside a refused one (the accepted ones are remembered and skipped on retry)',
  },
  localError: {
    code: 451,
    enhanced: '4.3.0',
    text: 'Local error in processing, try again later',
    when: 'An unexpected internal error: never a silent loss',
  },
} as const satisfies Record<string, ReplySpec>;

export type ReplyKey = keyof typeof REPLIES;

/** An error that smtp-server turns into the reply: `responseCode` + message carrying our enhanced code. */
export class SmtpReplyError extends Error {
  readonly responseCode: number;
  readonly key: ReplyKey;
  constructor(key: ReplyKey, vars: Record<string, string | number> = {}) {
    const spec: ReplySpec = REPLIES[key];
    super(`${spec.enhanced} ${fill(spec.text, vars)}`);
    this.name = 'SmtpReplyError';
    this.responseCode = spec.code;
    this.key = key;
  }
}

/** Text of a reply (enhanced code first) for success callbacks such as onData's message. */
export function replyText(key: ReplyKey, vars: Record<string, string | number> = {}): string {
  const spec: ReplySpec = REPLIES[key];
  return `${spec.enhanced} ${fill(spec.text, vars)}`;
}

/** Full reply line as a client sees it (tests and docs). */
export function replyLine(key: ReplyKey, vars: Record<string, string | number> = {}): string {
  return `${REPLIES[key].code} ${replyText(key, vars)}`;
}

function fill(template: string, vars: Record<string, string | number>): string {
  // Values may come from clients (addresses, header values): keep them on one short line.
  return template.replace(/\{(\w+)\}/g, (_m, name: string) =>
    String(vars[name] ?? `{${name}}`)
      .replace(/[\r\n\t\0]+/g, ' ')
      .slice(0, 200),
  );
}
