// Buffered logs (LOG_FLUSH_MS, the default 100): info lines wait at most that long, warnings
// and errors never wait and keep the order, an exit writes what is buffered; and the real
// gateway (primary and workers) buffers: nothing on stdout at ready, everything after SIGTERM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
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
  // The child stays up until its destination reports a write: only the periodic flush can
  // make one (the deadline is the failure).
  const r = await runLogger(
    50,
    `const { symbols } = (await import('pino')).default;
     log.info('waiting');
     log[symbols.streamSym].once('write', () => process.exit(written() > 0 ? 0 : 4));
     setTimeout(() => { console.error('never flushed'); process.exit(3); }, 10_000);`,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.msgs, ['waiting']);
});

test('each write is whole lines and at most PIPE_BUF bytes (atomic on a shared pipe)', async () => {
  // A pipe writes up to PIPE_BUF (4096) bytes atomically; a longer write can be split and
  // interleaved with another process's, cutting lines. Every write(2) on stdout is recorded.
  const r = await runLogger(
    60_000,
    `const fs = (await import('node:fs')).default;
     const writeSync = fs.writeSync;
     const sizes = [];
     fs.writeSync = function (fd, data, ...rest) {
       if (fd === 1) sizes.push([Buffer.byteLength(data), String(data).endsWith('\\n')]);
       return writeSync.call(this, fd, data, ...rest);
     };
     for (let i = 0; i < 500; i++) log.info({ i, pad: 'x'.repeat(50 + ((i * 397) % 1500)) }, 'line');
     console.error(JSON.stringify(sizes));
     process.exit(0);`,
  );
  assert.equal(r.code, 0, r.stderr);
  const sizes = JSON.parse(r.stderr) as [number, boolean][];
  assert.ok(sizes.length > 10, 'lines were batched into writes');
  for (const [bytes, wholeLines] of sizes) {
    assert.ok(bytes <= 4096, `a write of ${bytes} bytes`);
    assert.ok(wholeLines, 'a write ending inside a line');
  }
  assert.equal(r.msgs.length, 500);
});

test('three processes sharing one stdout pipe: every line whole, none lost', async () => {
  // As the primary and the workers do: three processes inherit one pipe and log long lines
  // as fast as they can.
  const PER_PROCESS = 4000;
  const script = `
    import { fork } from 'node:child_process';
    if (process.argv[2] === 'writer') {
      const { createLogger } = await import(${LOG_MODULE});
      const log = createLogger({ level: 'info', format: 'json', role: 'tool', flushMs: 20 });
      for (let i = 0; i < ${PER_PROCESS}; i++) log.info({ i, pad: 'x'.repeat(50 + ((i * 397) % 1500)) }, 'line');
      process.exit(0);
    } else {
      const file = process.argv[1];
      for (let w = 0; w < 3; w++) fork(file, ['writer'], { stdio: 'inherit' });
    }
  `;
  const dir = await mkdtemp(join(tmpdir(), 'log-interleave-'));
  const file = join(dir, 'writers.mjs');
  await writeFile(file, script);
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => (text += d));
  await new Promise((resolve) => child.stdout.once('end', resolve));
  await rm(dir, { recursive: true, force: true });
  const lines = text.split('\n').filter(Boolean);
  const broken = lines.filter((l) => {
    try {
      JSON.parse(l);
      return false;
    } catch {
      return true;
    }
  });
  assert.deepEqual(broken.slice(0, 3), [], `${broken.length} cut lines`);
  assert.equal(lines.length, 3 * PER_PROCESS);
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
