// RedisStore against a real redis-server started here on a free loopback port: the rate
// limit, the AUTH lockout and the delivery ledger are shared between stores (pods), a dead
// Redis degrades to the pod's memory (metric 1, mail still accepted) and it recovers.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../src/log.ts';
import { sharedStateDegraded } from '../../src/metrics/primary-metrics.ts';
import { MemoryStore } from '../../src/primary/pod-state/memory-store.ts';
import { RedisStore } from '../../src/primary/pod-state/redis-store.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { sample } from '../helpers/metrics.ts';
import { sendMail, message, SmtpTestClient } from '../helpers/smtp-client.ts';
import { TEST_PASSWORD, TEST_USER } from '../fixtures/test-mail-side.ts';

const REDIS = '/usr/bin/redis-server';
const skip = existsSync(REDIS) ? false : `${REDIS} not installed`;
const log = createLogger({ level: 'silent', format: 'json', role: 'tool' });
const LOCKOUT = { threshold: 3, windowMs: 60_000, durationMs: 60_000 };

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

interface RedisProc {
  proc: ChildProcess;
  stop(): Promise<void>;
}
function startRedis(port: number): Promise<RedisProc> {
  const proc = spawn(
    REDIS,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 10_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve({
          proc,
          stop: async () => {
            if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
            await exited;
          },
        });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}):\n${out}`));
    });
  });
}

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const newStore = (url: string) =>
  new RedisStore({ url, lockout: LOCKOUT, fallback: new MemoryStore(LOCKOUT), log });

describe('RedisStore (two stores = two pods, one Redis)', { skip }, () => {
  let port: number;
  let redis: RedisProc;
  let a: RedisStore;
  let b: RedisStore;
  before(async () => {
    port = await freePort();
    redis = await startRedis(port);
    a = newStore(`redis://127.0.0.1:${port}`);
    b = newStore(`redis://127.0.0.1:${port}`);
    await until(() => !a.degraded && !b.degraded, 'both stores connected');
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  test('rate per IP is one budget across pods', async () => {
    const ip = '198.51.100.1';
    assert.equal(await a.consumeRate(ip, 3), true);
    assert.equal(await b.consumeRate(ip, 3), true);
    assert.equal(await a.consumeRate(ip, 3), true);
    assert.equal(await b.consumeRate(ip, 3), false, 'the 4th message in the minute, on the other pod');
    assert.equal(await a.consumeRate(ip, 3), false);
    assert.equal(await a.consumeRate('198.51.100.2', 3), true, 'other IPs have their own budget');
  });

  test('AUTH failures add up across pods; the lockout is seen by both, onLockout fires once', async () => {
    const ip = '198.51.100.3';
    const fired: string[] = [];
    a.onLockout = (x) => fired.push(`a:${x}`);
    b.onLockout = (x) => fired.push(`b:${x}`);
    assert.equal(await a.recordAuthFailure(ip), false);
    assert.equal(await b.recordAuthFailure(ip), false);
    assert.equal(await b.isLockedOut(ip), false);
    assert.equal(await a.recordAuthFailure(ip), true);
    assert.equal(await b.isLockedOut(ip), true);
    assert.equal(await a.isLockedOut(ip), true);
    assert.equal(await b.recordAuthFailure(ip), true);
    assert.deepEqual(fired, [`a:${ip}`]);
    assert.equal(await a.isLockedOut('198.51.100.4'), false);
  });

  test('the ledger recorded by one pod prevents the duplicate on the other, until its TTL', async () => {
    const keys = ['k1', 'k2', 'k3'];
    assert.deepEqual(await b.ledgerAccepted(keys), []);
    await a.ledgerRecord(['k1', 'k3'], 60);
    assert.deepEqual(await b.ledgerAccepted(keys), ['k1', 'k3']);
    await a.ledgerRecord(['short'], 1);
    assert.deepEqual(await b.ledgerAccepted(['short']), ['short']);
    await until(
      async () => (await b.ledgerAccepted(['short'])).length === 0,
      'the 1 s ledger entry to expire',
      5_000,
    );
  });

  test('a record with TTL 0 takes keys back on every pod (a released claim), without degrading', async () => {
    await a.ledgerRecord(['claim~'], 60);
    assert.deepEqual(await b.ledgerAccepted(['claim~']), ['claim~']);
    await b.ledgerRecord(['claim~'], 0);
    assert.deepEqual(await a.ledgerAccepted(['claim~']), []);
    assert.deepEqual(await b.ledgerAccepted(['claim~']), []);
    assert.equal(b.degraded, false, 'EX 0 would have been an error: the store would have fallen back');
  });

  test('Redis hung (SIGSTOP): calls time out into the fallback; resumed (SIGCONT): the store recovers by itself', async () => {
    redis.proc.kill('SIGSTOP');
    try {
      const started = Date.now();
      assert.equal(await a.consumeRate('198.51.100.20', 5), true, 'answered from memory');
      assert.ok(Date.now() - started < 2_000, 'bounded by the command timeout');
      assert.equal(a.degraded, true);
    } finally {
      redis.proc.kill('SIGCONT');
    }
    // The connection never dropped, so no 'ready' event: recovery comes from the retry.
    await until(async () => {
      await a.isLockedOut('198.51.100.21');
      return !a.degraded;
    }, 'the hung store to recover');
  });

  test('Redis killed: degraded (metric 1), every call still answers from memory; Redis back: recovers', async () => {
    await redis.stop();
    await until(() => a.degraded && b.degraded, 'both stores degraded');
    assert.equal((await sharedStateDegraded.get()).values[0]?.value, 1);
    // Per-pod behaviour: each pod has its own budget now, and nothing throws.
    const ip = '198.51.100.9';
    assert.equal(await a.consumeRate(ip, 1), true);
    assert.equal(await a.consumeRate(ip, 1), false);
    assert.equal(await b.consumeRate(ip, 1), true, 'pod b has its own memory budget while degraded');
    await a.ledgerRecord(['during-outage'], 60);
    assert.deepEqual(await a.ledgerAccepted(['during-outage']), ['during-outage']);
    for (let i = 0; i < 3; i++) await a.recordAuthFailure('198.51.100.10');
    assert.equal(await a.isLockedOut('198.51.100.10'), true);

    redis = await startRedis(port);
    await until(() => !a.degraded && !b.degraded, 'both stores reconnected', 15_000);
    assert.equal((await sharedStateDegraded.get()).values[0]?.value, 0);
    // Shared again (the restarted Redis is empty: budgets start full).
    const ip2 = '198.51.100.11';
    assert.equal(await a.consumeRate(ip2, 1), true);
    assert.equal(await b.consumeRate(ip2, 1), false);
    // What this pod decided during the outage still holds.
    assert.deepEqual(await a.ledgerAccepted(['during-outage']), ['during-outage']);
    assert.equal(await a.isLockedOut('198.51.100.10'), true);
  });
});

describe('two gateways (pods) sharing one Redis', { skip }, () => {
  let port: number;
  let redis: RedisProc;
  let gw1: RunningGateway;
  let gw2: RunningGateway;
  before(async () => {
    port = await freePort();
    redis = await startRedis(port);
    const env = {
      SMTP_WORKERS: '1',
      REDIS_URL: `redis://127.0.0.1:${port}`,
      RATE_LIMIT_PER_IP: '3',
      AUTH_LOCKOUT_THRESHOLD: '4',
    };
    [gw1, gw2] = await Promise.all([startGateway({ env }), startGateway({ env })]);
    for (const gw of [gw1, gw2]) await gw.waitForLog((l) => l.event === 'shared_state.connected');
  });
  after(async () => {
    await Promise.all([gw1?.stop(), gw2?.stop()]);
    await redis?.stop();
  });

  const degraded = async (gw: RunningGateway) =>
    sample((await gw.http('/metrics')).body, 'gateway_shared_state_degraded');
  const from = (gw: RunningGateway, ip: string) => SmtpTestClient.connect(gw.smtpPort, '127.0.0.1', ip);

  async function mailFrom(gw: RunningGateway, ip: string): Promise<string> {
    const { client } = await from(gw, ip);
    try {
      assert.equal((await client.login(TEST_USER, TEST_PASSWORD)).code, 235);
      return (await client.command(`MAIL FROM:<${TEST_USER}>`)).lines.at(-1)!;
    } finally {
      client.destroy();
    }
  }

  test('the per-IP message rate is shared: 3 per minute over both pods', async () => {
    const ip = '127.0.0.21';
    const replies = [
      await mailFrom(gw1, ip),
      await mailFrom(gw2, ip),
      await mailFrom(gw1, ip),
      await mailFrom(gw2, ip),
    ];
    assert.deepEqual(
      replies.map((r) => r.slice(0, 3)),
      ['250', '250', '250', '451'],
      replies.join('\n'),
    );
    assert.equal(replies[3], '451 4.7.0 Message rate limit exceeded for your address, try again later');
  });

  test('the AUTH lockout is shared: failures on both pods lock the address out on both', async () => {
    const ip = '127.0.0.22';
    for (const gw of [gw1, gw2, gw1, gw2]) {
      const { client } = await from(gw, ip);
      assert.equal((await client.login(TEST_USER, 'wrong')).code, 535);
      client.destroy();
    }
    for (const gw of [gw1, gw2]) {
      const { client, banner } = await from(gw, ip);
      assert.equal(
        banner.text,
        '421 4.7.0 Too many failed authentications from your address, try again later',
      );
      client.destroy();
    }
  });

  test('Redis killed: gateway_shared_state_degraded 1, mail still accepted; Redis back: 0 again', async () => {
    await redis.stop();
    await until(async () => (await degraded(gw1)) === 1 && (await degraded(gw2)) === 1, 'degraded metric 1');
    const { client } = await from(gw1, '127.0.0.23');
    assert.equal((await client.login(TEST_USER, TEST_PASSWORD)).code, 235);
    const reply = await sendMail(client, ['rcpt@example.com'], message('while Redis is down'));
    assert.equal(reply.code, 250, reply.text);
    client.destroy();
    assert.ok(
      gw1.lines.some((l) => l.event === 'shared_state.degraded'),
      'one log line says so',
    );

    redis = await startRedis(port);
    await until(
      async () => (await degraded(gw1)) === 0 && (await degraded(gw2)) === 0,
      'degraded metric 0',
      15_000,
    );
    assert.equal((await mailFrom(gw2, '127.0.0.24')).slice(0, 3), '250');
  });
});
