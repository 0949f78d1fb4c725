/**
 * A real Prometheus server (Debian's /usr/bin/prometheus) for end-to-end tests: started on
 * a free loopback port with its own TSDB in a temp dir, scraping the given targets every
 * second, queried through its HTTP API. Everything waits on conditions with deadlines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PROMETHEUS_BIN = '/usr/bin/prometheus';
export const HAVE_PROMETHEUS = existsSync(PROMETHEUS_BIN);

export interface InstantSample {
  metric: Record<string, string>;
  value: number;
}
export interface RangeSeries {
  metric: Record<string, string>;
  /** [unix seconds, value] */
  values: [number, number][];
}
export interface ScrapeTarget {
  scrapeUrl: string;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
}

export interface RunningPrometheus {
  url: string;
  output: string[];
  query(q: string): Promise<InstantSample[]>;
  queryRange(q: string, startSec: number, endSec: number, stepSec: number): Promise<RangeSeries[]>;
  /** The stored samples themselves (an instant query of `selector[window]`), with their scrape times. */
  samples(selector: string, window: string): Promise<RangeSeries[]>;
  targets(): Promise<ScrapeTarget[]>;
  /** Polls until every configured target is up (or throws with the targets' last errors). */
  waitForTargetsUp(timeoutMs?: number): Promise<void>;
  /** Polls an instant query until `accept` holds for its result; returns that result. */
  until(
    q: string,
    accept: (r: InstantSample[]) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<InstantSample[]>;
  stop(): Promise<void>;
}

/** A port that was free a moment ago (listen on 0, close): Prometheus takes a fixed address. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function api<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`Prometheus API ${url}: ${body.error ?? res.status}`);
  return body.data;
}

export async function startPrometheus(opts: {
  targets: string[];
  scrapeInterval?: string;
}): Promise<RunningPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-prom-'));
  const interval = opts.scrapeInterval ?? '1s';
  const config = [
    'global:',
    `  scrape_interval: ${interval}`,
    `  scrape_timeout: ${interval}`,
    '  evaluation_interval: 1m',
    'scrape_configs:',
    '  - job_name: gateway',
    '    static_configs:',
    `      - targets: [${opts.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
    '',
  ].join('\n');
  await writeFile(join(dir, 'prometheus.yml'), config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const output: string[] = [];
  const child: ChildProcess = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;

  const stop = async () => {
    if (running()) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };

  // Ready: the API answers (it listens only after the TSDB opened).
  const readyBy = Date.now() + 20_000;
  for (;;) {
    if (!running()) {
      await stop();
      throw new Error(`prometheus exited before it was ready:\n${output.join('').slice(-2000)}`);
    }
    try {
      const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > readyBy) {
      await stop();
      throw new Error(`prometheus not ready within 20 s:\n${output.join('').slice(-2000)}`);
    }
    await pause(50);
  }

  const query = async (q: string) => {
    const data = await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
      `${url}/api/v1/query?query=${encodeURIComponent(q)}`,
    );
    return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  };
  const targets = async () => {
    const data = await api<{ activeTargets: ScrapeTarget[] }>(`${url}/api/v1/targets?state=active`);
    return data.activeTargets;
  };

  return {
    url,
    output,
    query,
    targets,
    async samples(selector, window) {
      const data = await api<{ result: { metric: Record<string, string>; values: [number, string][] }[] }>(
        `${url}/api/v1/query?query=${encodeURIComponent(`${selector}[${window}]`)}`,
      );
      return data.result.map((r) => ({
        metric: r.metric,
        values: r.values.map(([t, v]) => [t, Number(v)] as [number, number]),
      }));
    },
    async queryRange(q, startSec, endSec, stepSec) {
      const params = new URLSearchParams({
        query: q,
        start: String(startSec),
        end: String(endSec),
        step: String(stepSec),
      });
      const data = await api<{ result: { metric: Record<string, string>; values: [number, string][] }[] }>(
        `${url}/api/v1/query_range?${params}`,
      );
      return data.result.map((r) => ({
        metric: r.metric,
        values: r.values.map(([t, v]) => [t, Number(v)] as [number, number]),
      }));
    },
    async waitForTargetsUp(timeoutMs = 15_000) {
      const end = Date.now() + timeoutMs;
      let last: ScrapeTarget[] = [];
      while (Date.now() < end) {
        last = await targets();
        if (last.length === opts.targets.length && last.every((t) => t.health === 'up')) return;
        await pause(100);
      }
      throw new Error(`targets not up in time: ${JSON.stringify(last)}`);
    },
    async until(q, accept, what, timeoutMs = 15_000) {
      const end = Date.now() + timeoutMs;
      let last: InstantSample[] = [];
      while (Date.now() < end) {
        last = await query(q);
        if (accept(last)) return last;
        await pause(100);
      }
      throw new Error(`timed out waiting for ${what}: ${q} = ${JSON.stringify(last)}`);
    },
    stop,
  };
}
