import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { USERS_FIXTURE } from './sandbox-helpers.ts';

const MAIN = new URL('../../src/sandbox/main.ts', import.meta.url).pathname;

describe('node src/sandbox/main.ts', () => {
  it('starts from env, prints one "sandbox ready" JSON line, serves, and stops on SIGTERM', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sandbox-main-'));
    const child = spawn(process.execPath, [MAIN], {
      env: {
        ...process.env,
        SANDBOX_PORT: '0',
        DATA_DIR: dataDir,
        SANDBOX_USERS_FILE: USERS_FIXTURE,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const lines = createInterface({ input: child.stdout });
      let ready: { msg: string; url: string; port: number } | undefined;
      const deadline = setTimeout(() => child.kill('SIGKILL'), 15_000);
      for await (const line of lines) {
        const parsed = JSON.parse(line) as { msg?: string; url: string; port: number };
        if (parsed.msg === 'sandbox ready') {
          ready = parsed as { msg: string; url: string; port: number };
          break;
        }
      }
      clearTimeout(deadline);
      assert.ok(ready, 'no ready line');
      assert.match(ready.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(ready.url, `http://127.0.0.1:${ready.port}`);
      const tok = await fetch(`${ready.url}/token`, {
        method: 'POST',
        body: new URLSearchParams({ username: 'many@cakemail.test', password: 'many-password' }),
      });
      assert.equal(tok.status, 200);
      const { access_token } = (await tok.json()) as { access_token: string };
      const sent = await fetch(`${ready.url}/v2/emails`, {
        method: 'POST',
        headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          email: 'to@example.com',
          sender: { id: 'snd-4004-a' },
          content: { subject: 's', text: 't', type: 'transactional' },
        }),
      });
      assert.equal(sent.status, 201);
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0);
      // close() flushes the outbox before exiting.
      assert.equal((await readdir(join(dataDir, 'outbox'))).length, 2);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('exits 1 with a readable error for a broken users file', async () => {
    const child = spawn(process.execPath, [MAIN], {
      env: {
        ...process.env,
        SANDBOX_USERS_FILE: '/nonexistent/users.json',
        LOG_LEVEL: 'error',
        DATA_DIR: tmpdir(),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 1);
    assert.match(out, /sandbox failed to start/);
    assert.match(out, /ENOENT/);
  });
});
