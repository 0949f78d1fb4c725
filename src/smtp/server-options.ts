/**
 * smtp-server options that do not depend on the session hooks: TLS policy, advertised
 * extensions, limits, timeouts. Read this file to know what the gateway advertises.
 */
import { constants } from 'node:crypto';
import type { SMTPServerOptions } from 'smtp-server';
import type { Config } from '../config/schema.ts';
import type { TlsMaterial } from '../ipc/messages.ts';
import { replyText } from './replies.ts';

/** Mozilla "intermediate": forward-secret AEAD suites only for TLS 1.2; TLS 1.3 suites are all strong. */
export const TLS_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * The TLS context's options that change at run time: the certificate pair and the session
 * ticket keys (src/primary/ticket-keys.ts), which every worker shares so that a ticket one
 * worker issued resumes on any other. Without resumption (TLS_SESSION_TIMEOUT=0) no ticket
 * is issued at all.
 */
export function tlsContextOptions(config: Config, tls: TlsMaterial, ticketKeys: string) {
  return {
    key: tls.key,
    cert: tls.cert,
    ...(config.TLS_SESSION_TIMEOUT > 0
      ? { ticketKeys: Buffer.from(ticketKeys, 'base64'), sessionTimeout: config.TLS_SESSION_TIMEOUT }
      : { secureOptions: constants.SSL_OP_NO_TICKET }),
  };
}

export function baseServerOptions(config: Config, tls: TlsMaterial, ticketKeys: string): SMTPServerOptions {
  return {
    name: config.SMTP_HOSTNAME,
    banner: 'ESMTP Cakemail SMTP gateway',
    ...tlsContextOptions(config, tls, ticketKeys),
    minVersion: 'TLSv1.2',
    ciphers: TLS_CIPHERS,
    honorCipherOrder: true,
    size: config.MESSAGE_SIZE_LIMIT,
    authMethods: ['PLAIN', 'LOGIN'],
    // AUTH stays advertised before STARTTLS: smtp-server builds the EHLO list from
    // server-wide options, and hiding AUTH per session (session.disabledCommands) turns
    // an early AUTH into "500 command not recognized" instead of RFC 3207's
    // "530 5.7.0 Must issue a STARTTLS command first". We keep the RFC reply: onAuth
    // refuses every AUTH on a plaintext session (see session-hooks.ts).
    allowInsecureAuth: true,
    authRequiredMessage: replyText('authRequired'),
    disableReverseLookup: true,
    socketTimeout: config.CONNECTION_TIMEOUT * 1000,
    // The drain's end is ours (drain.ts): smtp-server's would answer 421 to a session whose
    // delivery is under way. The longest timer Node takes; it is cleared when the server closes.
    closeTimeout: 2_147_483_647,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: true, // DSN parameters would be accepted and ignored: Cakemail has no such field
    hideREQUIRETLS: true,
    maxClients: config.MAX_CONNECTIONS_PER_POD, // the real (pod-wide) limit is the primary's
    logger: false, // we log sessions ourselves: the library's debug log would print protocol lines
    // A client's FIN must not close our side before its replies are out (half-close.ts).
    allowHalfOpen: true,
  } as SMTPServerOptions;
}
