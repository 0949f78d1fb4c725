/**
 * The embedded default upstream: outside production, with no CAKEMAIL_API_URL, the
 * primary starts the sandbox Cakemail API (src/sandbox) as a child process — not in
 * its own event loop, which must stay free to hand out connections.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { compileCacheEnv } from '../compile-cache.ts';
import { createInterface } from 'node:readline';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { DEMO_USER } from '../sandbox/users.ts';

export interface SandboxProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startSandboxProcess(config: Config): Promise<SandboxProcess> {
  const entry = new URL('../sandbox/main.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, [entry], {
    env: {
      ...process.env,
      ...compileCacheEnv(),
      SANDBOX_PORT: String(config.SANDBOX_PORT),
      DATA_DIR: config.DATA_DIR,
      LOG_LEVEL: config.LOG_LEVEL,
      ...(config.SANDBOX_USERS_FILE ? { SANDBOX_USERS_FILE: config.SANDBOX_USERS_FILE } : {}),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('sandbox did not start within 20 s')), 20_000);
    child.once('exit', (code) => reject(new Error(`sandbox exited with code ${code} before it was ready`)));
    lines.on('line', (line) => {
      process.stdout.write(line + '\n'); // its log lines join ours
      try {
        const parsed = JSON.parse(line) as { msg?: string; url?: string };
        if (parsed.msg === 'sandbox ready' && parsed.url) {
          clearTimeout(timer);
          resolve(parsed.url);
        }
      } catch {
        // not JSON: pass through only
      }
    });
  });
  return {
    url,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * For a newcomer on the embedded default: the demo account (public sandbox data, not a
 * secret) and a ready-to-paste swaks command. Logged in development only.
 */
export function announceSandbox(log: Logger, config: Config, smtpPort: number): void {
  const { username, password, senderEmail } = DEMO_USER;
  log.info(
    {
      event: 'sandbox.demo',
      demoUser: username,
      swaks: `swaks --server 127.0.0.1:${smtpPort} --tls --auth PLAIN --auth-user ${username} --auth-password ${password} --from ${senderEmail} --to someone@example.com --header 'Subject: hello from swaks'`,
      outbox: `${config.DATA_DIR}/outbox`,
    },
    `sandbox upstream: demo account ${username} / ${password}; paste the swaks command to send a mail`,
  );
}
