/** CakemailAuthenticator against the real sandbox: cache, negative cache, single flight, refresh. */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CakemailError } from '../../src/cakemail/errors.ts';
import { SmtpReplyError } from '../../src/smtp/replies.ts';
import { cakemailApiRetriesTotal, cakemailTokenCacheTotal } from '../../src/metrics/worker-metrics.ts';
import {
  DEMO,
  ctx,
  deadUrl,
  makeAuthenticator,
  makeClient,
  metric,
  startTestSandbox,
  until,
  type TestSandbox,
} from './cakemail-helpers.ts';

async function replyKey(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof SmtpReplyError, `expected SmtpReplyError, got ${String(err)}`);
    return err.key;
  }
  assert.fail('expected a refusal');
}

const TOKEN_TTL = 600;

describe('CakemailAuthenticator', () => {
  let t: TestSandbox;
  let client: ReturnType<typeof makeClient>;

  before(async () => {
    // Tokens of 10 minutes: renewal is due after 9 (margin min(60 s, 20 %)).
    t = await startTestSandbox({ tokenTtlSeconds: TOKEN_TTL });
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

  test('a second AUTH with the same credentials is answered from the cache', async () => {
    const auth = makeAuthenticator(client);
    const hits = await metric(cakemailTokenCacheTotal as never, { result: 'hit' });
    const a = await auth.authenticate(DEMO.username, DEMO.password, ctx());
    const b = await auth.authenticate(DEMO.username, DEMO.password, ctx());
    assert.deepEqual(a.accounts, [1001]);
    assert.equal(a.credentialKey, b.credentialKey);
    assert.ok(!a.credentialKey.includes(DEMO.password));
    assert.equal(t.sb.stats().token, 1);
    assert.equal(await metric(cakemailTokenCacheTotal as never, { result: 'hit' }), hits + 1);
  });

  test('different password, different key; the key depends on the per-pod secret', async () => {
    const auth1 = makeAuthenticator(client);
    const auth2 = makeAuthenticator(client);
    const a = await auth1.authenticate(DEMO.username, DEMO.password, ctx());
    const b = await auth2.authenticate(DEMO.username, DEMO.password, ctx());
    assert.notEqual(a.credentialKey, b.credentialKey);
  });

  test('the cache never outlives AUTH_CACHE_TTL_MAX', async () => {
    let now = Date.now();
    const auth = makeAuthenticator(client, { cacheTtlMaxSeconds: 10, now: () => now });
    await auth.authenticate(DEMO.username, DEMO.password, ctx());
    now += 9_000;
    await auth.authenticate(DEMO.username, DEMO.password, ctx());
    assert.equal(t.sb.stats().token, 1);
    now += 2_000;
    await auth.authenticate(DEMO.username, DEMO.password, ctx());
    assert.equal(t.sb.stats().token, 2);
  });

  test('wrong password → 535 authInvalid, and the retry is answered from the negative cache', async () => {
    const auth = makeAuthenticator(client);
    const negBefore = await metric(cakemailTokenCacheTotal as never, { result: 'negative_hit' });
    assert.equal(await replyKey(auth.authenticate(DEMO.username, 'wrong', ctx())), 'authInvalid');
    assert.equal(await replyKey(auth.authenticate(DEMO.username, 'wrong', ctx())), 'authInvalid');
    assert.equal(t.sb.stats().token, 1);
    assert.equal(await metric(cakemailTokenCacheTotal as never, { result: 'negative_hit' }), negBefore + 1);
    // The right password is not affected by the negative entry of a wrong one.
    await auth.authenticate(DEMO.username, DEMO.password, ctx());
  });

  test('negative cache expires after AUTH_NEGATIVE_CACHE_TTL', async () => {
    let now = Date.now();
    const auth = makeAuthenticator(client, { negativeTtlSeconds: 5, now: () => now });
    await replyKey(auth.authenticate(DEMO.username, 'wrong', ctx()));
    now += 6_000;
    await replyKey(auth.authenticate(DEMO.username, 'wrong', ctx()));
    assert.equal(t.sb.stats().token, 2);
  });

  test('concurrent AUTHs of the same credentials share one /token call', async () => {
    const auth = makeAuthenticator(client);
    t.sb.setFaults({ latencyMs: 100, endpoints: ['token'], remaining: 1 });
    const all = await Promise.all(
      Array.from({ length: 5 }, () => auth.authenticate(DEMO.username, DEMO.password, ctx())),
    );
    assert.equal(new Set(all.map((a) => a.credentialKey)).size, 1);
    assert.equal(t.sb.stats().token, 1);
  });

  test('MFA accounts → 535 authMfa (both shapes of the challenge)', async () => {
    const auth = makeAuthenticator(client);
    assert.equal(await replyKey(auth.authenticate('mfa@cakemail.test', 'mfa-password', ctx())), 'authMfa');
    assert.equal(
      await replyKey(auth.authenticate('mfa401@cakemail.test', 'mfa401-password', ctx())),
      'authMfa',
    );
  });

  test('API unreachable, 5xx, 429 or timeout → 454 authUnavailable, not cached', async () => {
    const dead = makeClient(await deadUrl());
    try {
      assert.equal(
        await replyKey(makeAuthenticator(dead).authenticate(DEMO.username, DEMO.password, ctx())),
        'authUnavailable',
      );
    } finally {
      await dead.close();
    }
    const auth = makeAuthenticator(client);
    t.sb.setFaults({ status: 503, endpoints: ['token'], remaining: 1 });
    assert.equal(await replyKey(auth.authenticate(DEMO.username, DEMO.password, ctx())), 'authUnavailable');
    t.sb.setFaults({ status: 429, endpoints: ['token'], remaining: 1 });
    assert.equal(await replyKey(auth.authenticate(DEMO.username, DEMO.password, ctx())), 'authUnavailable');
    const slow = makeClient(t.sb.url, { timeoutMs: 150 });
    try {
      t.sb.setFaults({ latencyMs: 1000, endpoints: ['token'], remaining: 1 });
      assert.equal(
        await replyKey(makeAuthenticator(slow).authenticate(DEMO.username, DEMO.password, ctx())),
        'authUnavailable',
      );
    } finally {
      await slow.close();
    }
    // Not negatively cached: once the API is back, the same credentials work.
    await auth.authenticate(DEMO.username, DEMO.password, ctx());
  });

  test('an access token due for renewal is renewed with the refresh token (never the password)', async () => {
    let now = Date.now();
    const auth = makeAuthenticator(client, { now: () => now });
    const acct = await auth.authenticate(DEMO.username, DEMO.password, ctx());
    now += TOKEN_TTL * 1000;
    const senders = await auth.withToken(acct.credentialKey, (tok) => client.listSenders(tok));
    assert.ok(senders.length > 0);
    assert.equal(t.sb.stats().refresh, 1);
    assert.equal(t.sb.stats().token, 1);
  });

  test('concurrent renewals share one refresh call', async () => {
    let now = Date.now();
    const auth = makeAuthenticator(client, { now: () => now });
    const acct = await auth.authenticate(DEMO.username, DEMO.password, ctx());
    now += TOKEN_TTL * 1000;
    t.sb.setFaults({ latencyMs: 50, endpoints: ['token'], remaining: 1 });
    const tokens = await Promise.all(Array.from({ length: 4 }, () => auth.accessToken(acct.credentialKey)));
    assert.equal(new Set(tokens).size, 1);
    assert.equal(t.sb.stats().refresh, 1);
  });

  test('refresh refused → session_expired, session dropped', async () => {
    let now = Date.now();
    const auth = makeAuthenticator(client, { now: () => now });
    const acct = await auth.authenticate(DEMO.username, DEMO.password, ctx());
    now += TOKEN_TTL * 1000;
    t.sb.setFaults({ status: 401, endpoints: ['token'], remaining: 1 });
    assert.equal(auth.hasSession(acct.credentialKey), true);
    await assert.rejects(
      auth.accessToken(acct.credentialKey),
      (e) => e instanceof CakemailError && e.kind === 'session_expired' && e.status === 401,
    );
    assert.equal(t.sb.stats().refresh, 1);
    assert.equal(auth.hasSession(acct.credentialKey), false);
  });

  test('a session unused for longer than its idle time is forgotten → session_expired', async () => {
    let now = Date.now();
    const auth = makeAuthenticator(client, { now: () => now, sessionIdleSeconds: 300 });
    const acct = await auth.authenticate(DEMO.username, DEMO.password, ctx());
    now += 200_000;
    await auth.accessToken(acct.credentialKey); // use pushes the idle expiry
    now += 200_000;
    await auth.accessToken(acct.credentialKey);
    now += 301_000;
    await assert.rejects(
      auth.accessToken(acct.credentialKey),
      (e) => e instanceof CakemailError && e.kind === 'session_expired',
    );
  });

  test('refresh failing temporarily while the old token is still valid: the old token is used', async () => {
    let now = Date.now();
    const auth = makeAuthenticator(client, { now: () => now });
    const acct = await auth.authenticate(DEMO.username, DEMO.password, ctx());
    const first = await auth.accessToken(acct.credentialKey);
    now += (TOKEN_TTL - 30) * 1000; // inside the renewal margin, before the real expiry
    t.sb.setFaults({ status: 503, endpoints: ['token'], remaining: 1 });
    assert.equal(await auth.accessToken(acct.credentialKey), first);
    assert.equal(t.sb.stats().refresh, 1, 'a renewal was attempted');
  });

  describe('with short-lived sandbox tokens', () => {
    let short: TestSandbox;
    let shortClient: ReturnType<typeof makeClient>;
    before(async () => {
      short = await startTestSandbox({ tokenTtlSeconds: 1 });
      shortClient = makeClient(short.sb.url);
    });
    after(async () => {
      await shortClient.close();
      await short.stop();
    });

    test('a 401 from the API renews with the refresh token once and the call is retried', async () => {
      // A frozen clock: the authenticator believes its token fresh, the sandbox does not.
      const frozen = Date.now();
      const auth = makeAuthenticator(shortClient, { now: () => frozen });
      const acct = await auth.authenticate(DEMO.username, DEMO.password, ctx());
      const stale = await auth.accessToken(acct.credentialKey);
      await until(
        () =>
          shortClient.listSenders(stale).then(
            () => false,
            (e: unknown) => e instanceof CakemailError && e.kind === 'session_expired',
          ),
        'the sandbox to expire the access token',
      );
      short.sb.resetStats();
      const retries = await metric(cakemailApiRetriesTotal as never, {
        endpoint: 'senders',
        reason: 'session_expired',
      });
      const senders = await auth.withToken(acct.credentialKey, (tok) => shortClient.listSenders(tok));
      assert.equal(
        await metric(cakemailApiRetriesTotal as never, { endpoint: 'senders', reason: 'session_expired' }),
        retries + 1,
      );
      assert.ok(senders.some((s) => s.id === 'snd-1001-demo'));
      assert.equal(short.sb.stats().refresh, 1);
      assert.equal(short.sb.stats().token, 0);
      assert.equal(short.sb.stats().senders, 2); // the 401, then the retry
    });
  });
});
