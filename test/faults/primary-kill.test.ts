// kill -9 of the primary under load: pm2 restarts the gateway, clients reconnect and retry.
// The pod's delivery ledger lives in the primary's memory (REDIS_URL unset), so messages
// Cakemail accepted while their session was cut may be sent twice on retry: counted here.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startSandbox } from '../../src/sandbox/server.ts';
import { REPO } from '../helpers/gateway.ts';
import { DEMO, USERS_FIXTURE } from '../helpers/sandbox.ts';
import { AccountingLoad } from './accounting-load.ts';
import { record, writeReport } from './report.ts';

after(() => writeReport());

const PM2 = join(REPO, 'node_modules/.bin/pm2');

/** A port that was free a moment ago: the restarted gateway must come back on the same one. */
async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

test('kill -9 of the primary under load: pm2 restarts it, clients reconnect, nothing acknowledged is lost', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gw-primary-kill-'));
  const sb = await startSandbox({
    dataDir: join(dir, 'sandbox'),
    usersFile: USERS_FIXTURE,
    writeOutbox: false,
  });
  const smtpPort = await freePort();
  const env = {
    ...process.env,
    PATH: `${join(REPO, 'node_modules/.bin')}:${process.env.PATH}`,
    PM2_HOME: join(dir, 'pm2'),
    NODE_ENV: 'test',
    SMTP_PORT: String(smtpPort),
    SMTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    SMTP_WORKERS: '2',
    DATA_DIR: join(dir, 'data'),
    CAKEMAIL_API_URL: sb.url,
    RATE_LIMIT_PER_IP: '0',
    MAX_CONNECTIONS_PER_IP: '10000',
    DRAIN_TIMEOUT: '5',
  };
  const pm2 = (...args: string[]) =>
    new Promise<string>((resolve, reject) =>
      execFile(PM2, args, { cwd: REPO, env, timeout: 90_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`pm2 ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
  const readyCount = async () =>
    (await readFile(join(dir, 'pm2/logs/smtp-gateway-out.log'), 'utf8').catch(() => '')).split(
      'gateway.ready',
    ).length - 1;
  const until = async (cond: () => Promise<boolean> | boolean, what: string) => {
    const deadline = Date.now() + 60_000;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50)); // polling pm2's log file, with a deadline
    }
  };
  const load = new AccountingLoad({
    port: () => smtpPort,
    user: DEMO.user,
    pass: DEMO.pass,
    from: DEMO.user,
    sessions: 6,
    tag: 'primary-kill',
  });
  try {
    await pm2('start', 'ecosystem.config.js');
    load.start();
    await load.waitAccepted(20);
    const list = JSON.parse(await pm2('jlist')) as { pid: number }[];
    process.kill(list[0]!.pid, 'SIGKILL');
    await until(async () => (await readyCount()) >= 2, 'pm2 to restart the gateway');
    await load.waitAccepted(20, 60_000);
    await load.stop();
    const acc = load.account(sb.outbox());
    record({
      fault: 'kill -9 of the primary (pm2 restarts it)',
      load: `6 sessions, ${acc.sent} messages × 2 recipients`,
      outcome:
        'workers exit with it; clients reconnect to the restarted gateway; ledger (memory) lost with the primary',
      accounting: acc,
    });
    assert.deepEqual(acc.lost, []);
    assert.deepEqual(acc.unacknowledged, []);
    // Only sessions cut mid-DATA can duplicate: at most one message (2 recipients) per session.
    assert.ok(acc.duplicates.length <= 12, acc.duplicates.join(', '));
    assert.ok(acc.retriedThenAccepted + acc.connectionFailures > 0, 'the kill was felt by the clients');
  } finally {
    await load.stop().catch(() => undefined);
    await pm2('kill').catch(() => undefined);
    await sb.close();
  }
});
