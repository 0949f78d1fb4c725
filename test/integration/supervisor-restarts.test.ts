// The supervisor with real processes when a crash restart and a SIGHUP rolling restart meet:
// a slot always ends with exactly one worker, and every other one is told to shut down.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { startGateway, type LogLine, type RunningGateway } from '../helpers/gateway.ts';
import { SmtpTestClient } from '../helpers/smtp-client.ts';

/** The primary's child processes (its workers: these tests use no sandbox process). */
function children(gw: RunningGateway): number[] {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(gw.proc.pid)], { encoding: 'utf8' });
  } catch {
    // ps exits 1 when there is none
  }
  return out
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number)
    .sort((a, b) => a - b);
}

const since = (gw: RunningGateway, mark: number, pred: (l: LogLine) => boolean) =>
  gw.lines.slice(mark).filter(pred);
const listening = (l: LogLine) => l.event === 'worker.listening' && l.role === 'primary';

/**
 * The banner of a new connection. With one worker and SMTP_PORT=0 the port changes when
 * it crashed (node:cluster closed the listening socket with the last worker): the latest
 * worker's own line says which it is.
 */
async function greeted(gw: RunningGateway): Promise<number> {
  const port = Number(gw.lines.findLast((l) => l.event === 'worker.listening' && l.role === 'worker')!.port);
  const { client, banner } = await SmtpTestClient.connect(port, '127.0.0.1', undefined, 5_000);
  client.end();
  return banner.code;
}

test('SIGHUP while a crashed slot waits out its restart backoff: one replacement, the backoff fork is cancelled', async () => {
  const gw = await startGateway({ env: { SMTP_WORKERS: '1', WORKER_RESTART_DELAY_MS: '3000' } });
  try {
    const first = gw.lines.find(listening)!;
    const mark = gw.lines.length;
    process.kill(Number(first.workerPid), 'SIGKILL');
    await gw.waitForLog((l) => l.event === 'worker.exit' && l.expected === false, 10_000, mark);
    gw.signal('SIGHUP'); // during the 3 s backoff
    await gw.waitForLog((l) => l.event === 'gateway.reloaded', 15_000, mark);
    // Either the backoff was cancelled when the rolling restart forked the slot's worker,
    // or (the bug) it forks a second worker for the slot when it ends.
    await gw.waitForLog(
      (l) => l.event === 'worker.restart_cancelled' || (l.event === 'worker.forked' && l.generation === 3),
      10_000,
      mark,
    );
    const serving = since(gw, mark, listening);
    assert.equal(serving.length, 1);
    assert.deepEqual(children(gw), [Number(serving[0]!.workerPid)], 'exactly SMTP_WORKERS live workers');
    assert.deepEqual(
      since(gw, mark, (l) => l.event === 'worker.forked').map((l) => l.generation),
      [2],
      'the slot was forked once, by the rolling restart',
    );
    assert.match((await gw.http('/metrics')).body, /gateway_workers\{state="listening"\} 1/);
    assert.equal(await greeted(gw), 220);
  } finally {
    await gw.stop();
  }
});

test('SIGHUP while a crash replacement starts: both forks listen, the one replaced is told to shut down', async () => {
  const gw = await startGateway({ env: { SMTP_WORKERS: '1', WORKER_RESTART_DELAY_MS: '20' } });
  try {
    const first = gw.lines.find(listening)!;
    const mark = gw.lines.length;
    process.kill(Number(first.workerPid), 'SIGKILL');
    // The backoff's fork is starting (not listening yet: a worker takes far longer to start
    // than the primary takes to fork the rolling replacement below).
    await gw.waitForLog((l) => l.event === 'worker.forked' && l.generation === 2, 10_000, mark);
    gw.signal('SIGHUP');
    await gw.waitForLog((l) => l.event === 'gateway.reloaded', 15_000, mark);
    // Both listen, in either order; the slot keeps the last one and retires the other.
    await gw.waitForLog(() => since(gw, mark, listening).length === 2, 10_000, mark);
    const exited = (l: LogLine) => l.event === 'worker.exit' && l.expected === true;
    // Without a retirement no exit ever comes: then the assertions below say what is left.
    await gw.waitForLog(exited, 5_000, mark).catch(() => undefined);
    const serving = since(gw, mark, listening);
    assert.deepEqual(children(gw), [Number(serving[1]!.workerPid)], 'exactly SMTP_WORKERS live workers');
    assert.deepEqual(
      since(gw, mark, exited).map((l) => Number(l.workerPid)),
      [Number(serving[0]!.workerPid)],
      'the first to listen was replaced and stopped',
    );
    assert.equal(await greeted(gw), 220);
  } finally {
    await gw.stop();
  }
});

test('a rolling replacement that never reports ready is killed at WORKER_START_TIMEOUT_MS; the old worker keeps serving', async () => {
  const gw = await startGateway({ env: { SMTP_WORKERS: '1', WORKER_START_TIMEOUT_MS: '1500' } });
  try {
    const old = Number(gw.lines.find(listening)!.workerPid);
    const mark = gw.lines.length;
    gw.signal('SIGHUP');
    const forked = await gw.waitForLog(
      (l) => l.event === 'worker.forked' && l.generation === 2,
      10_000,
      mark,
    );
    const hung = Number(forked.workerPid);
    process.kill(hung, 'SIGSTOP'); // long before it can report ready: a start that hangs
    await gw.waitForLog((l) => l.event === 'worker.start_timeout' && l.workerPid === hung, 10_000, mark);
    await gw.waitForLog((l) => l.event === 'worker.rolling_failed', 10_000, mark);
    await gw.waitForLog((l) => l.event === 'worker.exit' && l.workerPid === hung, 10_000, mark);
    assert.deepEqual(children(gw), [old], 'the hung replacement is gone, the old worker stays');
    assert.equal(await greeted(gw), 220);
    // The next SIGHUP replaces the old worker as usual.
    const next = gw.lines.length;
    gw.signal('SIGHUP');
    const ready = await gw.waitForLog((l) => listening(l) && l.generation === 3, 15_000, next);
    await gw.waitForLog((l) => l.event === 'worker.exit' && l.workerPid === old, 15_000, next);
    assert.deepEqual(children(gw), [Number(ready.workerPid)]);
  } finally {
    await gw.stop();
  }
});
