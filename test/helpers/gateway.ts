/**
 * Starts the real gateway (primary + workers) as a child process on port 0 and reads
 * its JSON log lines, so tests wait for events instead of sleeping.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const REPO = new URL('../../', import.meta.url).pathname;
export const TEST_MAIL_SIDE = new URL('../fixtures/test-mail-side.ts', import.meta.url).pathname;

export interface LogLine {
  level: number;
  msg: string;
  event?: string;
  role?: string;
  worker?: number;
  [k: string]: unknown;
}

export interface RunningGateway {
  proc: ChildProcess;
  smtpPort: number;
  httpPort: number;
  dataDir: string;
  lines: LogLine[];
  rawOutput: string[];
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs?: number, fromIndex?: number): Promise<LogLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  signal(sig: NodeJS.Signals): void;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  http(path: string): Promise<{ status: number; body: string; json(): unknown }>;
}

export interface GatewayOptions {
  env?: Record<string, string>;
  /** Use the in-test mail side (default) instead of the real Cakemail side. */
  testMailSide?: boolean;
  command?: string[];
  /** Resolve once started without waiting for readiness (e.g. for crash-loop tests). */
  waitReady?: boolean;
}

export const TEST_LOG_DIR = join(REPO, 'test-results', 'logs');

async function keepLog(pid: number | undefined, lines: string[]): Promise<void> {
  await mkdir(TEST_LOG_DIR, { recursive: true });
  await writeFile(join(TEST_LOG_DIR, `gateway-${pid}-${Date.now()}.log`), lines.join('\n') + '\n');
}

/** The environment of a test gateway in `dataDir`: loopback, ports 0, two workers, `env` on top. */
export function gatewayEnv(
  dataDir: string,
  env: Record<string, string> = {},
  testMailSide = true,
): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    NODE_ENV: 'test',
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    SMTP_WORKERS: '2',
    LOG_LEVEL: 'info',
    // Tests read log lines as they happen (waitForLog, lines right after an action): no
    // buffering. The buffered default has its own tests (log-buffering.test.ts).
    LOG_FLUSH_MS: '0',
    DATA_DIR: dataDir,
    DRAIN_TIMEOUT: '10',
    // Tests read /metrics right after an action: every scrape waits for every worker's
    // fresh answer (the default serves a busy worker's last second; metrics.test.ts).
    METRICS_MAX_STALENESS_MS: '0',
    ...(testMailSide
      ? { GATEWAY_TEST_MAIL_SIDE: TEST_MAIL_SIDE, CAKEMAIL_API_URL: 'http://127.0.0.1:9' }
      : {}),
    ...env,
  };
}

export async function startGateway(opts: GatewayOptions = {}): Promise<RunningGateway> {
  const dataDir = opts.env?.DATA_DIR ?? (await mkdtemp(join(tmpdir(), 'gw-test-')));
  const env = gatewayEnv(dataDir, opts.env, opts.testMailSide !== false);
  const [cmd, ...args] = opts.command ?? [process.execPath, join(REPO, 'src/main.ts')];
  const proc = spawn(cmd!, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: LogLine[] = [];
  const rawOutput: string[] = [];
  const waiters = new Set<() => void>();
  const onLine = (line: string) => {
    rawOutput.push(line);
    try {
      lines.push(JSON.parse(line) as LogLine);
    } catch {
      return;
    }
    for (const w of [...waiters]) w();
  };
  createInterface({ input: proc.stdout! }).on('line', onLine);
  createInterface({ input: proc.stderr! }).on('line', (l) => rawOutput.push(l));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => {
      for (const w of [...waiters]) w();
      // Every gateway's output is kept for the whole-run secret scan (npm posttest).
      void keepLog(proc.pid, rawOutput).finally(() => resolve({ code, signal }));
    }),
  );

  const waitForLog = (pred: (l: LogLine) => boolean, timeoutMs = 20_000, fromIndex = 0) =>
    new Promise<LogLine>((resolve, reject) => {
      const check = () => {
        const found = lines.slice(fromIndex).find(pred);
        if (found) {
          cleanup();
          resolve(found);
        } else if (proc.exitCode !== null || proc.signalCode !== null) {
          cleanup();
          reject(
            new Error(
              `gateway exited before the expected log line; output:\n${rawOutput.slice(-30).join('\n')}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for a log line; output:\n${rawOutput.slice(-30).join('\n')}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  const ready =
    opts.waitReady === false
      ? await waitForLog((l) => l.event === 'http.listening', 30_000)
      : await waitForLog((l) => l.event === 'gateway.ready', 30_000);
  const smtpPort = ready.smtpPort as number;
  const httpPort = ready.httpPort as number;
  return {
    proc,
    smtpPort,
    httpPort,
    dataDir,
    lines,
    rawOutput,
    waitForLog,
    exited,
    signal: (sig) => proc.kill(sig),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
    async http(path: string) {
      const res = await fetch(`http://127.0.0.1:${httpPort}${path}`);
      const body = await res.text();
      return { status: res.status, body, json: () => JSON.parse(body) };
    },
  };
}

/** Pids of the workers the primary reported listening (every generation so far). */
export function listeningWorkerPids(gw: RunningGateway): number[] {
  return [
    ...new Set(
      gw.lines.filter((l) => l.event === 'worker.listening' && l.workerPid).map((l) => Number(l.workerPid)),
    ),
  ];
}
