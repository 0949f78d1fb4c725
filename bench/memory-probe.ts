/**
 * `node bench/memory-probe.ts [sessions] [--env KEY=VALUE ...]`: where a gateway's memory
 * goes with N authenticated TLS sessions held open and no load. Prints, per process, the
 * V8 heap (anonymous mappings), the malloc heap ([heap]) and the shared binary, at rest
 * and with the sessions held. A tuning aid for scenario (e) of `npm run bench`.
 */
import { readFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Holder } from './load-generator.ts';
import { probeArgs } from './probe-args.ts';
import { LOOPBACK_SOURCES, makeCertificate, startGateway } from './servers.ts';

const { count, env } = probeArgs(process.argv.slice(2), 5000);

async function children(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.split(/\s+/).filter(Boolean).map(Number);
}

async function breakdown(pid: number): Promise<Record<string, number>> {
  const smaps = await readFile(`/proc/${pid}/smaps`, 'utf8');
  const out: Record<string, number> = { rss: 0, anon: 0, malloc: 0, file: 0 };
  let name = '';
  for (const line of smaps.split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      name = m[1] ?? '';
      continue;
    }
    const r = /^Rss:\s+(\d+) kB/.exec(line);
    if (!r) continue;
    const kb = Number(r[1]);
    out.rss! += kb;
    if (name === '[heap]') out.malloc! += kb;
    else if (name === '' || name.startsWith('[anon')) out.anon! += kb;
    else out.file! += kb;
  }
  for (const k of Object.keys(out)) out[k] = Math.round(out[k]! / 1024);
  return out;
}

async function report(label: string, pids: Map<number, string>): Promise<void> {
  console.log(`-- ${label} (MiB)`);
  for (const [pid, role] of pids) console.log(`  ${role.padEnd(8)} ${JSON.stringify(await breakdown(pid))}`);
}

const dataDir = await mkdtemp(join(tmpdir(), 'gw-memprobe-'));
const cert = await makeCertificate(join(dataDir, 'tls'));
const tree = await startGateway({ dataDir, cert, workers: 2, sched: 'rr', env, fds: count + 1000 });
const pids = new Map<number, string>([[tree.primaryPid!, 'primary']]);
for (const w of await children(tree.primaryPid!)) pids.set(w, 'worker');
await report('at rest', pids);
const holder = new Holder();
const sources = [...LOOPBACK_SOURCES];
const held = await holder.hold({
  host: '127.0.0.1',
  port: tree.smtpPort,
  sources,
  user: 'demo@cakemail.test',
  pass: 'demo-password',
  from: 'demo@cakemail.test',
  count,
  concurrency: 64,
  timeoutMs: 120_000,
});
await report(`${held.held} sessions held`, pids);
holder.release();
await tree.stop();
