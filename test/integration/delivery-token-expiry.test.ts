/**
 * The mail pipeline when the access token expires between the session's AUTH and its DATA:
 * one refresh with the refresh token and one retry of the recipient, never a password grant.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CakemailError } from '../../src/cakemail/errors.ts';
import { createMailPipeline } from '../../src/delivery/pipeline.ts';
import { MemoryLedger } from '../../src/delivery/ledger.ts';
import {
  DEMO,
  ctx,
  makeAuthenticator,
  makeClient,
  silentLog,
  startTestSandbox,
  testConfig,
  until,
  type TestSandbox,
} from './cakemail-helpers.ts';
import { assertReply, mime, refusal } from './pipeline-helpers.ts';

describe('tokens expiring during delivery', () => {
  let short: TestSandbox;
  before(async () => {
    short = await startTestSandbox({ tokenTtlSeconds: 1 });
  });
  after(async () => {
    await short.stop();
  });

  async function expiredSession() {
    const client = makeClient(short.sb.url);
    // A frozen clock: the authenticator believes its token fresh; the sandbox will say 401.
    const frozen = Date.now();
    const authenticator = makeAuthenticator(client, { now: () => frozen });
    const pipeline = createMailPipeline({
      config: testConfig(short.sb.url),
      client,
      authenticator,
      ledger: new MemoryLedger(),
      log: silentLog,
    });
    const account = await authenticator.authenticate(DEMO.username, DEMO.password, ctx());
    const verdict = await pipeline.checkSender(account, 'demo@cakemail.test', ctx());
    const stale = await authenticator.accessToken(account.credentialKey);
    await until(
      () =>
        client.listSenders(stale).then(
          () => false,
          (e: unknown) => e instanceof CakemailError && e.kind === 'session_expired',
        ),
      'the sandbox to expire the access token',
    );
    short.sb.resetStats();
    short.sb.clearOutbox();
    const send = () =>
      pipeline.deliver(
        {
          account,
          mailFrom: 'demo@cakemail.test',
          rcptTo: ['a@example.com'],
          sender: verdict,
          raw: mime(),
        },
        ctx(),
      );
    return { client, send };
  }

  test('a refresh whose answer is lost: the recipient is retried and delivered, not left ambiguous', async () => {
    const { client, send } = await expiredSession();
    try {
      // The refresh after the 401 is processed, but its answer never arrives.
      short.sb.setFaults({ dropAfterRequest: true, endpoints: ['token'], remaining: 1 });
      await send();
      assert.equal(short.sb.outbox().length, 1);
      assert.equal(short.sb.stats().refresh, 2);
      assert.equal(short.sb.stats().token, 0, 'never a password grant');
    } finally {
      short.sb.setFaults(null);
      await client.close();
    }
  });

  test('401 → refresh once with the refresh token, the recipient is retried once → delivered', async () => {
    const { client, send } = await expiredSession();
    try {
      await send();
      assert.equal(short.sb.stats().refresh, 1);
      assert.equal(short.sb.stats().token, 0, 'never a password grant');
      assert.equal(short.sb.stats().emails, 2);
      assert.equal(short.sb.outbox().length, 1);
    } finally {
      await client.close();
    }
  });

  test('refresh refused → 451 upstreamSessionExpired', async () => {
    const { client, send } = await expiredSession();
    try {
      short.sb.setFaults({ status: 401, endpoints: ['token'] });
      assertReply(await refusal(send()), 'upstreamSessionExpired');
      assert.equal(short.sb.outbox().length, 0);
    } finally {
      short.sb.setFaults(null);
      await client.close();
    }
  });
});
