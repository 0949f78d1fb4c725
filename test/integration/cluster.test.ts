// The process model with real processes: primary + 2 SMTP workers, kill -9, SIGTERM drain, SIGHUP rolling restart.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { SmtpTestClient, message, sendMail } from '../helpers/smtp-client.ts';
import { TEST_PASSWORD, TEST_USER } from '../fixtures/test-mail-side.ts';

test('every worker serves connections', async () => {
  const gw = await startGateway();
  try {
    const clients = [];
    for (let i = 0; i < 6; i++) clients.push((await SmtpTestClient.connect(gw.smtpPort)).client);
    await gw.waitForLog(() => gw.lines.filter((l) => l.event === 'smtp.connect').length >= 6);
    const workers = new Set(gw.lines.filter((l) => l.event === 'smtp.connect').map((l) => l.worker));
    assert.deepEqual([...workers].sort(), [0, 1]);
    for (const c of clients) c.end();
  } finally {
    await gw.stop();
  }
});

test('kill -9 of a worker: replaced, readiness recovers, a session on the other worker is unaffected', async () => {
  const gw = await startGateway();
  try {
    const { client } = await SmtpTestClient.connect(gw.smtpPort);
    assert.equal((await client.login(TEST_USER, TEST_PASSWORD)).code, 235);
    const mine = await gw.waitForLog((l) => l.event === 'smtp.connect');
    const victim = gw.lines.find(
      (l) => l.event === 'worker.listening' && l.role === 'worker' && l.worker !== mine.worker,
    )!;
    const mark = gw.lines.length;
    process.kill(victim.pid as number, 'SIGKILL');
    await gw.waitForLog((l) => l.event === 'worker.exit' && l.expected === false, 10_000, mark);
    await gw.waitForLog(
      (l) => l.event === 'worker.listening' && l.role === 'primary' && l.slot === victim.worker,
      15_000,
      mark,
    );
    assert.equal((await gw.http('/health/ready')).status, 200);
    const reply = await sendMail(client, ['a@example.com'], message('still here'));
    assert.equal(reply.code, 250);
    client.end();
    const metrics = (await gw.http('/metrics')).body;
    assert.match(metrics, /gateway_worker_restarts_total\{reason="crash"\} 1/);
  } finally {
    await gw.stop();
  }
});

test('SIGTERM during a DATA transfer: readiness 503 at once, that message gets its 250, new commands 421, exit 0', async () => {
  const gw = await startGateway();
  const { client } = await SmtpTestClient.connect(gw.smtpPort);
  assert.equal((await client.login(TEST_USER, TEST_PASSWORD)).code, 235);
  assert.equal((await client.command('MAIL FROM:<user@test.example>')).code, 250);
  assert.equal((await client.command('RCPT TO:<a@example.com>')).code, 250);
  assert.equal((await client.command('DATA')).code, 354);
  client.write('From: user@test.example\r\nSubject: in flight\r\n\r\nfirst half\r\n');
  const mark = gw.lines.length;
  gw.signal('SIGTERM');
  await gw.waitForLog((l) => l.event === 'worker.draining', 10_000, mark);
  const ready = await gw.http('/health/ready');
  assert.equal(ready.status, 503);
  assert.equal((ready.json() as { reason: string }).reason, 'draining');
  client.write('second half\r\n.\r\n');
  const reply = await client.read();
  assert.match(reply.text, /^250 2\.0\.0 Ok: queued as /);
  const next = await client.command('NOOP');
  assert.equal(next.code, 421);
  const { code } = await gw.exited;
  assert.equal(code, 0);
});

test('SIGHUP while clients connect in a loop: rolling restart with no refused connection', async () => {
  const gw = await startGateway();
  try {
    const before = new Set(
      gw.lines.filter((l) => l.event === 'worker.listening' && l.role === 'worker').map((l) => l.pid),
    );
    let stop = false;
    let attempts = 0;
    const failures: string[] = [];
    // Eight clients connecting back to back: the banner alone takes ~100 ms (smtp-server's early-talker wait).
    const loop = Promise.all(
      Array.from({ length: 8 }, async () => {
        while (!stop) {
          attempts++;
          try {
            const { client, banner } = await SmtpTestClient.connect(gw.smtpPort);
            if (banner.code !== 220) failures.push(banner.text);
            client.end();
          } catch (e) {
            failures.push(String(e));
          }
        }
      }),
    );
    // Connections flow before, during and after the restart.
    const attemptsReach = async (n: number) => {
      while (attempts < n) await new Promise((r) => setTimeout(r, 10)); // polling a counter
    };
    await attemptsReach(8);
    const mark = gw.lines.length;
    gw.signal('SIGHUP');
    await gw.waitForLog((l) => l.event === 'gateway.reloaded', 30_000, mark);
    const atReload = attempts;
    await attemptsReach(atReload + 8);
    stop = true;
    await loop;
    assert.deepEqual(failures, []);
    const after = gw.lines
      .filter((l, i) => i >= mark && l.event === 'worker.listening' && l.role === 'worker')
      .map((l) => l.pid);
    assert.equal(after.length, 2);
    for (const pid of after) assert.ok(!before.has(pid), 'every worker was replaced');
    assert.equal((await gw.http('/health/ready')).status, 200);
  } finally {
    await gw.stop();
  }
});

test('MAX_CONNECTIONS_PER_IP and RATE_LIMIT_PER_IP hold across all workers', async () => {
  const gw = await startGateway({ env: { MAX_CONNECTIONS_PER_IP: '3', RATE_LIMIT_PER_IP: '2' } });
  try {
    const open = [];
    for (let i = 0; i < 3; i++) open.push((await SmtpTestClient.connect(gw.smtpPort)).client);
    const workers = new Set(gw.lines.filter((l) => l.event === 'smtp.connect').map((l) => l.worker));
    assert.equal(workers.size, 2, 'connections were spread over both workers');
    const { client: fourth, banner } = await SmtpTestClient.connect(gw.smtpPort);
    assert.equal(banner.text, '421 4.7.0 Too many connections from your address, try again later');
    await fourth.closedPromise();
    const mark = gw.lines.length;
    open.pop()!.end();
    await gw.waitForLog((l) => l.event === 'smtp.close', 10_000, mark);
    const { client: again, banner: ok } = await SmtpTestClient.connect(gw.smtpPort);
    assert.equal(ok.code, 220);
    // Rate: two messages pass (one per worker session), the third is deferred.
    again.end();
    for (const c of open) c.end();
    const results = [];
    for (let i = 0; i < 3; i++) {
      const { client } = await SmtpTestClient.connect(gw.smtpPort);
      await client.login(TEST_USER, TEST_PASSWORD);
      results.push((await client.command('MAIL FROM:<user@test.example>')).text);
      client.end();
      await client.closedPromise();
    }
    assert.equal(results[0]!.slice(0, 3), '250');
    assert.equal(results[1]!.slice(0, 3), '250');
    assert.equal(results[2], '451 4.7.0 Message rate limit exceeded for your address, try again later');
  } finally {
    await gw.stop();
  }
});

test('a worker that keeps crashing: growing delays, then the crash-loop limit stops respawns; readiness says why', async () => {
  const gw = await startGateway({
    waitReady: false,
    env: {
      SMTP_WORKERS: '1',
      WORKER_RESTART_DELAY_MS: '20',
      WORKER_CRASH_LOOP_LIMIT: '3',
      GATEWAY_TEST_MAIL_SIDE: new URL('../fixtures/crashing-mail-side.ts', import.meta.url).pathname,
    },
  });
  try {
    await gw.waitForLog((l) => l.event === 'worker.crashloop', 30_000);
    const exits = gw.lines.filter((l) => l.event === 'worker.exit' && l.expected === false);
    assert.equal(exits.length, 4, 'the first start + 3 restarts, then no more');
    const ready = await gw.http('/health/ready');
    assert.equal(ready.status, 503);
    assert.match((ready.json() as { reason: string }).reason, /worker slot 0 crashlooping/);
    const metrics = (await gw.http('/metrics')).body;
    assert.match(metrics, /gateway_workers\{state="crashlooping"\} 1/);
    assert.match(metrics, /gateway_worker_restarts_total\{reason="crash"\} 4/);
  } finally {
    await gw.stop();
  }
});

test('a connection that reaches a worker as it retires is greeted by another worker, not left hanging', async () => {
  const gw = await startGateway();
  try {
    for (let round = 1; round <= 8; round++) {
      const mark = gw.lines.length;
      gw.signal('SIGHUP');
      // The last old worker is told to stop right after this line; an idle worker exits at
      // once, while node:cluster may still be handing it this connection.
      await gw.waitForLog((l) => l.event === 'gateway.reloaded', 30_000, mark);
      const { client, banner } = await SmtpTestClient.connect(gw.smtpPort, '127.0.0.1', undefined, 5_000);
      client.end();
      assert.equal(banner.code, 220, `round ${round}`);
    }
  } finally {
    await gw.stop();
  }
});
