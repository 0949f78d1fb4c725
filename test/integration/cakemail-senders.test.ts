/** SenderDirectory against the real sandbox: confirmed senders, cache, single flight, lookup failures. */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SenderDirectory } from '../../src/cakemail/sender-directory.ts';
import { CakemailError } from '../../src/cakemail/errors.ts';
import {
  DEMO,
  ctx,
  makeAuthenticator,
  makeClient,
  startTestSandbox,
  type TestSandbox,
} from './cakemail-helpers.ts';

describe('SenderDirectory', () => {
  let t: TestSandbox;
  let client: ReturnType<typeof makeClient>;

  before(async () => {
    t = await startTestSandbox();
    client = makeClient(t.sb.url);
  });
  after(async () => {
    await client.close();
    await t.stop();
  });
  beforeEach(() => {
    t.sb.setFaults(null);
    t.sb.resetStats();
  });

  async function setup(user: { username: string; password: string } = DEMO, now?: () => number) {
    const auth = makeAuthenticator(client);
    const account = await auth.authenticate(user.username, user.password, ctx());
    const dir = new SenderDirectory({ client, authenticator: auth, ...(now ? { now } : {}) });
    return { auth, account, dir };
  }

  test('a confirmed sender gets its id (case-insensitive); an unconfirmed or unknown one does not', async () => {
    const { account, dir } = await setup();
    assert.deepEqual(await dir.checkSender(account, 'Demo@CakeMail.test', ctx()), {
      address: 'Demo@CakeMail.test',
      senderId: 'snd-1001-demo',
      senderName: 'Demo Sender',
    });
    assert.deepEqual(await dir.checkSender(account, 'pending@cakemail.test', ctx()), {
      address: 'pending@cakemail.test',
    });
    assert.deepEqual(await dir.checkSender(account, 'nobody@example.com', ctx()), {
      address: 'nobody@example.com',
    });
    assert.equal(t.sb.stats().senders, 1, 'one lookup served all three checks');
  });

  test('the list is cached for its TTL, then fetched again', async () => {
    let now = Date.now();
    const { account, dir } = await setup(DEMO, () => now);
    await dir.findByAddress(account, 'demo@cakemail.test');
    now += 59_000;
    await dir.findByAddress(account, 'demo@cakemail.test');
    assert.equal(t.sb.stats().senders, 1);
    now += 2_000;
    await dir.findByAddress(account, 'demo@cakemail.test');
    assert.equal(t.sb.stats().senders, 2);
  });

  test('concurrent lookups share one call', async () => {
    const { account, dir } = await setup();
    t.sb.setFaults({ latencyMs: 50, endpoints: ['senders'], remaining: 1 });
    const found = await Promise.all(Array.from({ length: 5 }, () => dir.findById(account, 'snd-1001-news')));
    assert.ok(found.every((s) => s?.email === 'news@cakemail.test'));
    assert.equal(t.sb.stats().senders, 1);
  });

  test('another account is looked up with account_id, and cached apart', async () => {
    const { account, dir } = await setup({ username: 'multi@cakemail.test', password: 'multi-password' });
    assert.equal((await dir.findByAddress(account, 'other@cakemail.test'))?.id, undefined);
    assert.equal((await dir.findByAddress(account, 'other@cakemail.test', 2002))?.id, 'snd-2002-other');
    assert.equal(t.sb.stats().senders, 2);
  });

  test('a failed lookup at MAIL FROM does not refuse: verdict without senderId, not cached', async () => {
    const { account, dir } = await setup();
    t.sb.setFaults({ status: 500, endpoints: ['senders'], remaining: 1 });
    assert.deepEqual(await dir.checkSender(account, 'demo@cakemail.test', ctx()), {
      address: 'demo@cakemail.test',
    });
    assert.equal((await dir.checkSender(account, 'demo@cakemail.test', ctx())).senderId, 'snd-1001-demo');
  });

  test('findByAddress propagates lookup failures (the end of DATA turns them into 451)', async () => {
    const { account, dir } = await setup();
    t.sb.setFaults({ status: 429, endpoints: ['senders'], remaining: 1 });
    await assert.rejects(
      dir.findByAddress(account, 'demo@cakemail.test'),
      (e) => e instanceof CakemailError && e.kind === 'throttled',
    );
  });
});
