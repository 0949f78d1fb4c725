/**
 * The reference: a bare smtp-server process with the gateway's TLS policy (same
 * certificate, TLSv1.2+, the same cipher list) and AUTH PLAIN, that drains every
 * message and accepts it. It is the ceiling of the library on this machine: what the
 * gateway costs is measured against it.
 *
 * `node bench/reference-server.ts` with env REF_CERT, REF_KEY (PEM paths), REF_HOST
 * (127.0.0.1), REF_PORT (0), REF_DELAY_MS (0: answer the end of DATA at once; 50 stands
 * in for an upstream with that latency), REF_USER, REF_PASS. Prints one JSON line
 * `{"msg":"reference ready","port":N}` on stdout when listening.
 */
import { readFileSync } from 'node:fs';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { TLS_CIPHERS } from '../src/smtp/server-options.ts';

const env = process.env;
const delayMs = Number(env.REF_DELAY_MS ?? 0);
const user = env.REF_USER ?? 'demo@cakemail.test';
const pass = env.REF_PASS ?? 'demo-password';
let queued = 0;

class Reply extends Error {
  readonly responseCode: number;
  constructor(code: number, text: string) {
    super(text);
    this.responseCode = code;
  }
}

const options: SMTPServerOptions = {
  name: 'localhost',
  banner: 'ESMTP reference',
  key: readFileSync(env.REF_KEY ?? ''),
  cert: readFileSync(env.REF_CERT ?? ''),
  minVersion: 'TLSv1.2',
  ciphers: TLS_CIPHERS,
  honorCipherOrder: true,
  size: 25 * 1024 * 1024,
  authMethods: ['PLAIN', 'LOGIN'],
  allowInsecureAuth: true, // as the gateway: AUTH advertised before STARTTLS, refused in onAuth
  disableReverseLookup: true,
  socketTimeout: 300_000,
  closeTimeout: 1000,
  hideENHANCEDSTATUSCODES: false,
  hideDSN: true,
  hideREQUIRETLS: true,
  maxClients: 1_000_000,
  logger: false,
  onAuth(auth, session, callback) {
    if (!session.secure) return callback(new Reply(530, '5.7.0 Must issue a STARTTLS command first'));
    if (auth.username !== user || auth.password !== pass)
      return callback(new Reply(535, '5.7.8 Authentication credentials invalid'));
    callback(null, { user: auth.username });
  },
  onMailFrom(_address, session, callback) {
    if (!session.user) return callback(new Reply(530, '5.7.0 Authentication required'));
    callback();
  },
  onData(stream, _session, callback) {
    stream.on('data', () => undefined);
    stream.once('end', () => {
      const answer = () => callback(null, `Ok: queued as REF${(++queued).toString(36).toUpperCase()}`);
      if (delayMs > 0) setTimeout(answer, delayMs);
      else answer();
    });
  },
} as SMTPServerOptions;

const server = new SMTPServer(options);
server.on('error', (err) => process.stderr.write(`reference: ${err.message}\n`));
server.listen(Number(env.REF_PORT ?? 0), env.REF_HOST ?? '127.0.0.1', () => {
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(JSON.stringify({ msg: 'reference ready', port }) + '\n');
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
