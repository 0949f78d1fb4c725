// A run of pm2 itself with ecosystem.config.js: start (wait_ready), zero-downtime reload (SIGHUP), stop (drain, exit 0).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { PRIMARY_NODE_FLAGS } from '../../src/primary/node-flags.ts';
import { REPO, TEST_MAIL_SIDE } from '../helpers/gateway.ts';
import { SmtpTestClient } from '../helpers/smtp-client.ts';

const PM2 = join(REPO, 'node_modules/.bin/pm2');

test('pm2: start from ecosystem.config.js, reload with SIGHUP, stop', async () => {
  const pm2Home = await mkdtemp(join(tmpdir(), 'pm2-home-'));
  const dataDir = await mkdtemp(join(tmpdir(), 'pm2-data-'));
  const env = {
    ...process.env,
    // npm puts node_modules/.bin first: pm2's CLI and daemon then run on Node 24, which can require() the ESM ecosystem file.
    PATH: `${join(REPO, 'node_modules/.bin')}:${process.env.PATH}`,
    PM2_HOME: pm2Home,
    SMTP_PORT: '0',
    HTTP_PORT: '0',
    SMTP_HOST: '127.0.0.1',
    HTTP_HOST: '127.0.0.1',
    SMTP_WORKERS: '2',
    DATA_DIR: dataDir,
    DRAIN_TIMEOUT: '5',
    GATEWAY_TEST_MAIL_SIDE: TEST_MAIL_SIDE,
    CAKEMAIL_API_URL: 'http://127.0.0.1:9',
  };
  const pm2 = (...args: string[]) =>
    new Promise<string>((resolve, reject) =>
      execFile(PM2, args, { cwd: REPO, env, timeout: 90_000 }, (err, stdout, stderr) =>
        err
          ? reject(new Error(`pm2 ${args.join(' ')}: ${err.message}\n${stdout}\n${stderr}`))
          : resolve(stdout),
      ),
    );
  const outLog = join(pm2Home, 'logs', 'smtp-gateway-out.log');
  const events = async () =>
    (await readFile(outLog, 'utf8').catch(() => ''))
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { event?: string; smtpPort?: number; nodeFlags?: string[] });
  // The log file is written by pm2's daemon: poll it (with a deadline) for the expected event.
  const waitEvent = async (name: string, count = 1) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const found = (await events()).filter((e) => e.event === name);
      if (found.length >= count) return found[count - 1]!;
      if (Date.now() > deadline) throw new Error(`no ${name} in pm2 logs`);
      await delay(100);
    }
  };
  try {
    // `pm2 start` returns only after wait_ready: the gateway sent 'ready'.
    await pm2('start', 'ecosystem.config.js');
    const ready = await waitEvent('gateway.ready');
    const { client, banner } = await SmtpTestClient.connect(ready.smtpPort!);
    assert.equal(banner.code, 220);
    client.end();

    await pm2('sendSignal', 'SIGHUP', 'smtp-gateway');
    await waitEvent('gateway.reloaded');
    const { client: again, banner: banner2 } = await SmtpTestClient.connect(ready.smtpPort!);
    assert.equal(banner2.code, 220, 'same port still served after the rolling restart');
    again.end();

    const list = JSON.parse(await pm2('jlist')) as {
      name: string;
      pm2_env: { status: string; restart_time: number };
    }[];
    assert.equal(list[0]?.pm2_env.status, 'online');
    // The primary runs with the Node flags every launcher gives it (node_args). Not read from
    // /proc/<pid>/cmdline: pm2 rewrites the process title over it.
    for (const flag of PRIMARY_NODE_FLAGS)
      assert.ok(ready.nodeFlags?.includes(flag), String(ready.nodeFlags));
    assert.equal(list[0]?.pm2_env.restart_time, 0, 'the reload restarted workers, not the pm2 process');

    await pm2('stop', 'smtp-gateway');
    await waitEvent('gateway.stopped');
  } finally {
    await pm2('kill').catch(() => undefined);
  }
});
