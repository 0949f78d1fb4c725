/**
 * AUTH on a plaintext session is refused at the AUTH command itself, before any 334
 * challenge asks the client for its credentials.
 *
 * AUTH stays advertised before STARTTLS (server-options.ts), so `allowInsecureAuth` is on
 * and smtp-server runs the SASL exchange on a plaintext session: `AUTH LOGIN` got
 * `334 VXNlcm5hbWU6`, then `334 UGFzc3dvcmQ6`, and only once the client had sent its
 * password in the clear did onAuth answer 530. RFC 4954 section 4 forbids plaintext
 * password mechanisms without TLS, and RFC 3207 section 4 answers such a command with
 * "530 5.7.0 Must issue a STARTTLS command first": a client that forgot STARTTLS (a PHP
 * mailer with auto-TLS off picks LOGIN) must not be walked through giving its password away.
 *
 * The refusal stays the hooks' (session-hooks.ts onAuth: reply, metrics, log): on a
 * plaintext session the application is asked first, with the mechanism and no
 * credentials, and its error is the reply. Installed once per process (worker-main.ts).
 */
import type { SMTPServerAuthentication, SMTPServerSession } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

type Done = () => void;
interface ConnectionInternals {
  secure: boolean;
  session: SMTPServerSession;
  _server: {
    onAuth(
      auth: SMTPServerAuthentication,
      session: SMTPServerSession,
      cb: (err?: (Error & { responseCode?: number }) | null) => void,
    ): void;
  };
  send(code: number, data?: string): void;
  handler_AUTH(command: Buffer | string, callback: Done): void;
}

let installed = false;

export function installPlaintextAuthGuard(): void {
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype as unknown as ConnectionInternals;
  const original = proto.handler_AUTH;
  proto.handler_AUTH = function handlerAuth(this: ConnectionInternals, command, callback) {
    if (this.secure) return original.call(this, command, callback);
    const method = (String(command).trim().split(/\s+/)[1] ?? '').toUpperCase();
    this._server.onAuth({ method } as SMTPServerAuthentication, this.session, (err) => {
      if (!err) return original.call(this, command, callback); // the application allows it
      this.send(err.responseCode ?? 530, err.message);
      callback();
    });
  };
}
