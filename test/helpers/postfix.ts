/**
 * A private Postfix instance for end-to-end tests: its own config, queue and data
 * directories in a temp dir, no listener, no local delivery, no DNS, logging to a file
 * (maillog_file, Postfix >= 3.4), relaying everything to the gateway with SASL over
 * STARTTLS — the way a customer's MTA would use it. Needs root (Postfix drops to
 * mail_owner itself) and the Debian package (user postfix, group postdrop).
 */
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type ProcessResult } from './clients.ts';

export const POSTFIX = '/usr/sbin/postfix';
export const HAVE_POSTFIX = existsSync(POSTFIX);

export interface PostfixOptions {
  /** The gateway's SMTP port on 127.0.0.1. */
  relayPort: number;
  user: string;
  pass: string;
  /** Extra main.cf lines. */
  extra?: string[];
}

export interface PostfixInstance {
  dir: string;
  configDir: string;
  /** The whole maillog so far ('' before the first line). */
  maillog(): Promise<string>;
  /** `sendmail -C dir -f from -- rcpts` with the message on stdin. */
  sendmail(from: string, rcpts: readonly string[], message: string): Promise<ProcessResult>;
  /** `postqueue -f`: attempt delivery of everything queued, deferred mail included. */
  flush(): Promise<ProcessResult>;
  /** `postqueue -j`: one JSON object per queued message. */
  queue(): Promise<unknown[]>;
  stop(): Promise<void>;
}

// Only what a relay-only client needs; chroot off (the temp dir has no chroot tree).
const MASTER_CF = `
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`.trimStart();

function mainCf(dir: string, o: PostfixOptions): string {
  // The static map answers every lookup with "user:password" (split at the first colon).
  if (o.user.includes(':') || /\s/.test(o.user + o.pass))
    throw new Error('user/pass unusable in a static map');
  return [
    'compatibility_level = 3.6',
    `queue_directory = ${join(dir, 'spool')}`,
    `data_directory = ${join(dir, 'data')}`,
    'mail_owner = postfix',
    'setgid_group = postdrop',
    'myhostname = client.postfix.test',
    'mydomain = postfix.test',
    'myorigin = $myhostname',
    'mydestination =',
    'local_transport = error:local delivery is disabled',
    'alias_maps =',
    'alias_database =',
    'inet_interfaces = loopback-only',
    'inet_protocols = ipv4',
    // Brackets: no MX lookup; native lookup of a literal address: no DNS at all.
    `relayhost = [127.0.0.1]:${o.relayPort}`,
    'smtp_host_lookup = native',
    'smtp_dns_support_level = disabled',
    'smtp_sasl_auth_enable = yes',
    `smtp_sasl_password_maps = static:${o.user}:${o.pass}`,
    'smtp_sasl_security_options = noanonymous',
    'smtp_sasl_tls_security_options = noanonymous',
    'smtp_sasl_mechanism_filter = plain, login',
    'smtp_tls_security_level = encrypt',
    'smtp_tls_loglevel = 1',
    // Deferred mail is retried by `postqueue -f`, never on its own while a test runs.
    'queue_run_delay = 3600s',
    'minimal_backoff_time = 3600s',
    'maximal_backoff_time = 7200s',
    `maillog_file = ${join(dir, 'maillog')}`,
    `maillog_file_prefixes = ${dir}`,
    ...(o.extra ?? []),
    '',
  ].join('\n');
}

/** True while `pid` runs (a zombie waiting for its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function must(what: string, p: Promise<ProcessResult>): Promise<ProcessResult> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stdout}${r.stderr}`);
  return r;
}

export async function startPostfix(o: PostfixOptions): Promise<PostfixInstance> {
  const dir = await mkdtemp(join(tmpdir(), 'pf-e2e-'));
  // Postfix daemons run as mail_owner and must traverse the temp dir.
  await chmod(dir, 0o755);
  const configDir = join(dir, 'etc');
  await mkdir(configDir);
  // Postfix chdirs into queue_directory first, so it must exist (root-owned, like /var/spool/postfix);
  // `postfix check` creates its subdirectories and data_directory with the right owners.
  await mkdir(join(dir, 'spool'));
  await writeFile(join(configDir, 'main.cf'), mainCf(dir, o));
  await writeFile(join(configDir, 'master.cf'), MASTER_CF);
  const maillog = () => readFile(join(dir, 'maillog'), 'utf8').catch(() => '');
  try {
    await must('postfix check', run(POSTFIX, ['-c', configDir, 'check']));
    await must('postfix start', run(POSTFIX, ['-c', configDir, 'start']));
  } catch (err) {
    // Postfix reports its fatal errors in the maillog, not on stderr.
    const log = await maillog();
    await run(POSTFIX, ['-c', configDir, 'stop']);
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\nmaillog:\n${log}`, { cause: err });
  }
  let stopped = false;
  return {
    dir,
    configDir,
    maillog,
    sendmail: (from, rcpts, message) =>
      run('/usr/sbin/sendmail', ['-C', configDir, '-f', from, '--', ...rcpts], message),
    flush: () => run('/usr/sbin/postqueue', ['-c', configDir, '-f']),
    async queue() {
      const r = await must('postqueue -j', run('/usr/sbin/postqueue', ['-c', configDir, '-j']));
      return r.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as unknown);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const pid = Number((await readFile(join(dir, 'spool/pid/master.pid'), 'utf8').catch(() => '')).trim());
      await run(POSTFIX, ['-c', configDir, 'stop']);
      // `postfix stop` only signals the master: wait until it is gone before removing its files.
      const end = Date.now() + 15_000;
      while (pid > 0 && alive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
