/**
 * The server side of a benchmark, each as real processes on port 0: the sandbox
 * upstream (fast mode: bench/sandbox-main.ts), the gateway (`node src/main.ts`, primary +
 * workers) and the reference smtp-server. Also the benchmark certificate, made once
 * and served by both the gateway and the reference.
 */
import { tmpdir } from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { generateCertificate } from '../src/primary/tls-material.ts';
import { withFdLimit } from './fd-limit.ts';
import { listeningPorts } from './proc-stats.ts';
import { PRIMARY_NODE_FLAGS } from '../src/primary/node-flags.ts';

export const REPO = new URL('../', import.meta.url).pathname;
const NODE = process.execPath;
/** The foundation tests' mail side (user@test.example): SMTP layer without Cakemail. */
export const NULL_MAIL_SIDE = join(REPO, 'test/fixtures/test-mail-side.ts');
export const NULL_MAIL_SIDE_USER = { user: 'user@test.example', pass: 'Tr0ub4dor&3-not-in-logs' };

/**
 * Source addresses the generators bind to, in turn: 127.0.0.0/8 is all loopback on Linux,
 * so 40 addresses give 40 × 28k ephemeral ports (no exhaustion at high connection rates).
 */
export const LOOPBACK_SOURCES: readonly string[] = Array.from({ length: 40 }, (_, i) => `127.0.0.${i + 2}`);

export interface ServerTree {
  kind: 'gateway' | 'reference';
  smtpPort: number;
  httpPort?: number;
  /** Roots of the process tree whose CPU and memory count (primary, sandbox, reference). */
  roots: number[];
  sandboxUrl?: string;
  /** Gateway primary pid (its workers are its children). */
  primaryPid?: number;
  /** Gateway log lines at LOG_LEVEL=warn (warnings and errors) and a few distinct messages. */
  logs?: { lines: number; samples: string[] };
  stop(): Promise<void>;
}

export interface CertPaths {
  cert: string;
  key: string;
}

/** The gateway's own self-signed generator (RSA 2048 or ECDSA P-256, sha256, CN=localhost), valid 30 days. */
export async function makeCertificate(dir: string, keyType: 'rsa' | 'ec' = 'rsa'): Promise<CertPaths> {
  await mkdir(dir, { recursive: true });
  const pems = await generateCertificate('localhost', 30, keyType);
  const paths = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  await writeFile(paths.key, pems.key, { mode: 0o600 });
  await writeFile(paths.cert, pems.cert);
  return paths;
}

function baseEnv(): Record<string, string> {
  // Every server process (gateway, sandbox, reference) starts from Node's compile cache,
  // as the gateway's image does (src/compile-cache.ts): no TypeScript stripper in memory.
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    NODE_COMPILE_CACHE: join(tmpdir(), 'node-compile-cache'),
  };
}

/** Waits for a JSON line with msg === `readyMsg` on stdout; rejects on exit or timeout. */
function waitForLine(
  child: ChildProcess,
  readyMsg: string,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const tail: string[] = [];
    const timer = setTimeout(
      () => reject(new Error(`${readyMsg}: not ready in ${timeoutMs} ms\n${tail.join('\n')}`)),
      timeoutMs,
    );
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${readyMsg}: exited with ${code}\n${tail.join('\n')}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (parsed.msg === readyMsg) {
          clearTimeout(timer);
          resolve(parsed);
        }
      } catch {
        // not JSON
      }
    });
  });
}

export function stopChild(child: ChildProcess, graceMs = 15_000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export async function startSandbox(
  dataDir: string,
  extraEnv: Record<string, string> = {},
  /** Another checkout's sandbox (bench/ab-sandbox.ts); default this one's. */
  repo: string = REPO,
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(NODE, [join(repo, 'bench/sandbox-main.ts')], {
    cwd: repo,
    env: { ...baseEnv(), DATA_DIR: dataDir, ...extraEnv },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = await waitForLine(child, 'sandbox ready', 20_000);
  return { url: String(ready.url), child };
}

export async function setUpstreamLatency(sandboxUrl: string, latencyMs: number): Promise<void> {
  const res = await fetch(`${sandboxUrl}/__sandbox/faults`, {
    method: latencyMs > 0 ? 'PUT' : 'DELETE',
    headers: { 'content-type': 'application/json' },
    ...(latencyMs > 0 ? { body: JSON.stringify({ latencyMs }) } : {}),
  });
  if (!res.ok) throw new Error(`sandbox faults: HTTP ${res.status} ${await res.text()}`);
}

export interface GatewayOptions {
  dataDir: string;
  cert: CertPaths;
  workers: number;
  sched: 'rr' | 'none';
  /** Extra env for the gateway tree only (e.g. NODE_OPTIONS=--cpu-prof ...). */
  env?: Record<string, string>;
  /** Extra env for the sandbox. */
  sandboxEnv?: Record<string, string>;
  /** Open files each gateway process must be allowed. */
  fds?: number;
  /**
   * SMTP layer only: the foundation tests' in-process mail side (accepts every message
   * without parsing it, no upstream) instead of the Cakemail side; no sandbox.
   */
  nullMailSide?: boolean;
}

/** Which of two listening ports is SMTP: the one that greets within a second. */
function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    const done = (v: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(false), 1500);
    s.once('data', (d) => done(d.toString('latin1').startsWith('220')));
    s.once('error', () => done(false));
  });
}

export async function startGateway(o: GatewayOptions): Promise<ServerTree> {
  const sandbox = o.nullMailSide ? undefined : await startSandbox(o.dataDir, o.sandboxEnv);
  const env = {
    ...baseEnv(),
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    DATA_DIR: o.dataDir,
    CAKEMAIL_API_URL: sandbox?.url ?? 'http://127.0.0.1:9',
    ...(o.nullMailSide ? { GATEWAY_TEST_MAIL_SIDE: NULL_MAIL_SIDE } : {}),
    SMTP_WORKERS: String(o.workers),
    NODE_CLUSTER_SCHED_POLICY: o.sched,
    TLS_CERT_PATH: o.cert.cert,
    TLS_KEY_PATH: o.cert.key,
    RATE_LIMIT_PER_IP: '0',
    MAX_CONNECTIONS_PER_IP: '100000',
    MAX_CONNECTIONS_PER_POD: '100000',
    DRAIN_TIMEOUT: '3',
    ...o.env,
  };
  // An IPC channel only to learn "ready" (the primary's pm2 wait_ready message): at
  // LOG_LEVEL=warn the gateway.ready line with the ports is not printed, so the ports
  // are read from /proc.
  // As every launcher starts the primary (src/primary/node-flags.ts).
  const [cmd, args] = withFdLimit(join(REPO, 'src/main.ts'), [], o.fds ?? 4096, PRIMARY_NODE_FLAGS);
  const child = spawn(cmd, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const logs = { lines: 0, samples: [] as string[] };
  const echo = process.env.BENCH_ECHO_GATEWAY === '1'; // debugging: show the gateway's output
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (echo) process.stdout.write(`gateway| ${line}\n`);
    logs.lines++;
    const msg = /"msg":"([^"]*)"/.exec(line)?.[1] ?? line.slice(0, 120);
    if (logs.samples.length < 5 && !logs.samples.includes(msg)) logs.samples.push(msg);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('gateway not ready within 30 s')), 30_000);
      child.once('exit', (code) => reject(new Error(`gateway exited with ${code} before it was ready`)));
      child.on('message', (m) => {
        if (m === 'ready') {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const ports = listeningPorts(child.pid!);
    let smtpPort = 0;
    for (const p of ports) if (await greets(p)) smtpPort = p;
    const httpPort = ports.find((p) => p !== smtpPort);
    if (!smtpPort || !httpPort) throw new Error(`gateway ports not found (listening: ${ports.join(', ')})`);
    return {
      kind: 'gateway',
      smtpPort,
      httpPort,
      roots: sandbox ? [child.pid!, sandbox.child.pid!] : [child.pid!],
      primaryPid: child.pid!,
      ...(sandbox ? { sandboxUrl: sandbox.url } : {}),
      logs,
      async stop() {
        await stopChild(child);
        if (sandbox) await stopChild(sandbox.child);
      },
    };
  } catch (err) {
    await stopChild(child, 2000);
    if (sandbox) await stopChild(sandbox.child, 2000);
    throw err;
  }
}

export async function startReference(cert: CertPaths, delayMs: number, fds = 4096): Promise<ServerTree> {
  const [cmd, args] = withFdLimit(join(REPO, 'bench/reference-server.ts'), [], fds);
  const child = spawn(cmd, args, {
    cwd: REPO,
    env: { ...baseEnv(), REF_CERT: cert.cert, REF_KEY: cert.key, REF_DELAY_MS: String(delayMs) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = await waitForLine(child, 'reference ready', 20_000);
  return {
    kind: 'reference',
    smtpPort: Number(ready.port),
    roots: [child.pid!],
    stop: () => stopChild(child, 5000),
  };
}
