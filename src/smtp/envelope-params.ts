/**
 * The ESMTP parameters of MAIL FROM and RCPT TO that the gateway honours; any other is
 * refused with 555 (RFC 5321 4.1.1.11: a parameter the server does not recognise or
 * cannot implement gets 555).
 *
 * smtp-server accepts every parameter it does not know, and with DSN and REQUIRETLS
 * hidden (server-options.ts) it still accepts theirs: `RCPT TO:<a@b> NOTIFY=SUCCESS`,
 * `MAIL FROM:<a@b> RET=FULL` or `REQUIRETLS` got 250 and were dropped, so the client
 * believed a delivery notification or a TLS-only delivery had been promised.
 *
 * MAIL keeps SIZE (RFC 1870), BODY (RFC 6152; smtp-server refuses values other than 7BIT
 * and 8BITMIME), SMTPUTF8 (RFC 6531) and AUTH (RFC 4954 section 5: a server offering AUTH
 * must accept it; Postfix, Exim and JavaMail send `AUTH=<>` on authenticated sessions).
 * RCPT takes none.
 */
import type { SMTPServerAddress } from 'smtp-server';

const MAIL_PARAMETERS: ReadonlySet<string> = new Set(['SIZE', 'BODY', 'SMTPUTF8', 'AUTH']);
const RCPT_PARAMETERS: ReadonlySet<string> = new Set();

/** The first parameter of MAIL FROM the gateway does not honour, if any (names are upper case). */
export function unsupportedMailParameter(address: SMTPServerAddress): string | undefined {
  return firstOutside(address, MAIL_PARAMETERS);
}

/** The first parameter of RCPT TO the gateway does not honour, if any. */
export function unsupportedRcptParameter(address: SMTPServerAddress): string | undefined {
  return firstOutside(address, RCPT_PARAMETERS);
}

function firstOutside(address: SMTPServerAddress, allowed: ReadonlySet<string>): string | undefined {
  const args = address.args as Record<string, unknown> | false | undefined;
  if (!args) return undefined;
  return Object.keys(args).find((name) => !allowed.has(name.toUpperCase()));
}
