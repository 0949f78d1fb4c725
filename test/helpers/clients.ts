/** Real SMTP clients driven as child processes: swaks and Python's smtplib. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

export const HAVE_SWAKS = existsSync('/usr/bin/swaks');

export interface ProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], input?: string, timeoutMs = 30_000): Promise<ProcessResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

export function swaks(
  port: number,
  user: string,
  pass: string,
  extra: string[] = [],
): Promise<ProcessResult> {
  return run('swaks', [
    '--server',
    `127.0.0.1:${port}`,
    '--tls',
    '--auth',
    'PLAIN',
    '--auth-user',
    user,
    '--auth-password',
    pass,
    '--from',
    user,
    '--to',
    'rcpt@example.com',
    '--helo',
    'client.test',
    '--timeout',
    '20',
    ...extra,
  ]);
}

/** Python smtplib: STARTTLS, login (AUTH PLAIN/LOGIN as smtplib picks), sendmail; prints the final reply. */
export function pythonSmtplib(
  port: number,
  user: string,
  pass: string,
  rcpts: string[],
  messageText: string,
  mechanism = '',
): Promise<ProcessResult> {
  const script = `
import json, smtplib, ssl, sys
args = json.loads(sys.stdin.read())
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP('127.0.0.1', args['port'], local_hostname='client.test', timeout=20)
s.ehlo(); s.starttls(context=ctx); s.ehlo()
if args['mechanism']:
    s.user, s.password = args['user'], args['pass']
    code, resp = s.auth(args['mechanism'], getattr(s, 'auth_' + args['mechanism'].lower()), initial_response_ok=args['mechanism'] != 'LOGIN')
else:
    code, resp = s.login(args['user'], args['pass'])
print('AUTH', code)
try:
    s.sendmail(args['user'], args['rcpts'], args['message'].encode('utf-8'))
    print('SENT', 250)
except smtplib.SMTPResponseException as e:
    print('SENT', e.smtp_code, e.smtp_error.decode())
except smtplib.SMTPRecipientsRefused as e:
    print('REFUSED', json.dumps({k: [v[0], v[1].decode()] for k, v in e.recipients.items()}))
s.quit()
`;
  return run(
    'python3',
    ['-c', script],
    JSON.stringify({ port, user, pass, rcpts, message: messageText, mechanism }),
  );
}
