// Buffered logs (LOG_FLUSH_MS, the default 100): info lines wait at most that long, warnings
// and errors never wait and keep the order, an exit writes what is buffered; and the real
// gateway (primary and workers) buffers: nothing on stdout at ready, everything after SIGTERM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO, gatewayEnv } from '../helpers/gateway.ts';

const LOG_MODULE = JSON.stringify(new URL('../../src/log.ts', import.meta.url).href);

/** A child that runs `body` with `log` (createLogger, json, info, flushMs), stdout to a file. */
async function runLogger(flushMs: number, body: string) {
  const dir = await mkdtemp(join(tmpdir(), 'log-buffer-'));
  const file = join(dir, 'stdout');
  const out = await open(file, 'w');
  const script = `
    import { createLogger } from ${LOG_MODULE};
    import { fstatSync } from 'node:fs';
    const log = createLogger({ level: 'info', format: 'json', role: 'tool', flushMs: ${flushMs} });
    const written = () => fstatSync(1).size;
    ${body}
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['pipe', out.fd, 'pipe'],
  });
  await out.close();
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const lines = (await readFile(file, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { msg: string; level: number });
  await rm(dir, { recursive: true, force: true });
  return { code, stderr, msgs: lines.map((l) => l.msg) };
}

test('info lines wait in the buffer; exit writes them, in order', async () => {
  const r = await runLogger(
    60_000,
    `log.info('one'); log.info('two'); console.error('written=' + written()); process.exit(0);`,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /written=0\b/, 'nothing written before the exit');
  assert.deepEqual(r.msgs, ['one', 'two']);
});

test('a warning (from a child logger too) writes itself and every line before it at once', async () => {
  const r = await runLogger(
    60_000,
    `log.info('before'); log.child({ session: 's1' }).warn('warned'); console.error('written=' + written()); log.info('after'); process.exit(0);`,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /written=[1-9]\d*\b/, 'the warning did not wait');
  assert.deepEqual(r.msgs, ['before', 'warned', 'after']);
});

test('an uncaught exception still writes the buffered lines', async () => {
  const r = await runLogger(
    60_000,
    `log.info('last words'); setImmediate(() => { throw new Error('boom'); });`,
  );
  assert.equal(r.code, 1);
  assert.match(r.stderr, /boom/);
  assert.deepEqual(r.msgs, ['last words']);
});

test('an idle process writes its buffer after flushMs', async () => {
  // The child stays up until its own line reached stdout: only the periodic flush can write it.
  const r = await runLogger(
    50,
    `log.info('waiting'); const t = setInterval(() => { if (written() > 0) { clearInterval(t); process.exit(0); } }, 5);
     setTimeout(() => { console.error('never flushed'); process.exit(3); }, 10_000);`,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.msgs, ['waiting']);
});

test('the gateway buffers (LOG_FLUSH_MS): nothing on stdout when ready, everything after SIGTERM', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gw-log-buffer-'));
  const file = join(dir, 'stdout');
  const out = await open(file, 'w');
  const child = spawn(process.execPath, [join(REPO, 'src/main.ts')], {
    cwd: REPO,
    env: gatewayEnv(dir, { LOG_FLUSH_MS: '60000' }),
    stdio: ['ignore', out.fd, 'inherit', 'ipc'],
  });
  await out.close();
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`gateway exited with ${code}`)));
      child.on('message', (m) => m === 'ready' && resolve());
    });
    assert.equal((await readFile(file, 'utf8')).length, 0, 'info lines of start-up written before ready');
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    const events = (await readFile(file, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { event?: string; role?: string }).event);
    assert.ok(events.includes('gateway.ready'), 'the primary wrote its buffer at exit');
    assert.equal(events.filter((e) => e === 'worker.listening').length >= 2, true, 'so did both workers');
  } finally {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});
