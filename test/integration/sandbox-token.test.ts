import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwtPayload } from '../../src/sandbox/tokens.ts';
import {
  call,
  login,
  schemaErrors,
  startTestSandbox,
  waitFor,
  type TestSandbox,
  type Tokens,
} from './sandbox-helpers.ts';

describe('sandbox POST /token', () => {
  let t: TestSandbox;
  before(async () => {
    t = await startTestSandbox();
  });
  after(() => t.stop());

  it('password grant answers a TokenResponse with a JWT-shaped access token', async () => {
    const r = await call(t.sb, 'POST', '/token', {
      form: { grant_type: 'password', username: 'demo@cakemail.test', password: 'demo-password' },
    });
    assert.equal(r.status, 200);
    assert.equal(schemaErrors('TokenResponse', r.body), null);
    const body = r.body as Tokens & { token_type: string };
    assert.equal(body.token_type, 'bearer');
    assert.equal(body.expires_in, 432000);
    assert.deepEqual(body.accounts, [1001]);
    const parts = body.access_token.split('.');
    assert.equal(parts.length, 3);
    for (const p of parts) assert.match(p, /^[A-Za-z0-9_-]+$/);
    const header = JSON.parse(Buffer.from(parts[0] as string, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    assert.deepEqual(header, { alg: 'HS256', typ: 'JWT' });
    const payload = decodeJwtPayload(body.access_token);
    assert.equal(payload.iss, 'urn:cakemail');
    assert.equal(payload.sub, 'demo@cakemail.test');
    assert.deepEqual(payload.accounts, [1001]);
    assert.equal((payload.exp as number) - (payload.iat as number), 432000);
    assert.ok(Math.abs((payload.exp as number) - (Date.now() / 1000 + 432000)) < 5);
    assert.notEqual(body.refresh_token, body.access_token);
    assert.ok(body.refresh_token.length >= 32);
  });

  it('grant_type defaults to password and usernames match case-insensitively', async () => {
    const r = await call(t.sb, 'POST', '/token', {
      form: { username: 'DEMO@Cakemail.test', password: 'demo-password' },
    });
    assert.equal(r.status, 200);
    assert.deepEqual((r.body as Tokens).accounts, [1001]);
  });

  it('decodes form-encoded special characters in username and password', async () => {
    const tok = await login(t.sb, 'special+tag@cakemail.test', 'p@ss w0rd&=+%é✓');
    assert.deepEqual(tok.accounts, [1001]);
  });

  it('wrong password and unknown user answer 401 in FastAPI shape', async () => {
    for (const form of [
      { grant_type: 'password', username: 'demo@cakemail.test', password: 'nope' },
      { grant_type: 'password', username: 'ghost@cakemail.test', password: 'demo-password' },
    ]) {
      const r = await call(t.sb, 'POST', '/token', { form });
      assert.equal(r.status, 401);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer');
      assert.deepEqual(r.body, { detail: [{ msg: 'Incorrect username or password', type: 'unauthorized' }] });
      assert.equal(schemaErrors('HTTPUnauthorizedError', r.body), null);
    }
  });

  it('unknown grant_type answers 400', async () => {
    const r = await call(t.sb, 'POST', '/token', { form: { grant_type: 'client_credentials' } });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, {
      detail: [{ msg: 'Unsupported grant_type: client_credentials', type: 'unsupported_grant_type' }],
    });
    assert.equal(schemaErrors('HTTPBadRequestError', r.body), null);
  });

  it('missing username/password and invalid fields answer 422 with loc', async () => {
    let r = await call(t.sb, 'POST', '/token', { form: { grant_type: 'password' } });
    assert.equal(r.status, 422);
    assert.deepEqual(r.body, {
      detail: [
        { loc: ['body', 'username'], msg: 'field required', type: 'value_error.missing' },
        { loc: ['body', 'password'], msg: 'field required', type: 'value_error.missing' },
      ],
    });
    r = await call(t.sb, 'POST', '/token', {
      form: { username: 'demo@cakemail.test', password: 'demo-password', expiration_seconds: '599' },
    });
    assert.equal(r.status, 422);
    assert.equal(schemaErrors('HTTPValidationError', r.body), null);
    const d = (r.body as { detail: Array<{ loc: unknown[]; type: string }> }).detail;
    assert.deepEqual(d[0]?.loc, ['body', 'expiration_seconds']);
    assert.equal(d[0]?.type, 'value_error.number.not_ge');
    r = await call(t.sb, 'POST', '/token', { form: { username: 'not-an-email', password: 'x' } });
    assert.equal(r.status, 422);
    assert.equal((r.body as { detail: Array<{ type: string }> }).detail[0]?.type, 'value_error.email');
  });

  it('honours expiration_seconds >= 600', async () => {
    const r = await call(t.sb, 'POST', '/token', {
      form: { username: 'demo@cakemail.test', password: 'demo-password', expiration_seconds: '700' },
    });
    assert.equal(r.status, 200);
    const body = r.body as Tokens;
    assert.equal(body.expires_in, 700);
    const p = decodeJwtPayload(body.access_token);
    assert.equal((p.exp as number) - (p.iat as number), 700);
  });

  it('account_id narrows the token to that account, or 403 when not the user’s', async () => {
    const all = await login(t.sb, 'multi@cakemail.test', 'multi-password');
    assert.deepEqual(all.accounts, [1001, 2002]);
    let r = await call(t.sb, 'POST', '/token', {
      form: { username: 'multi@cakemail.test', password: 'multi-password', account_id: '2002' },
    });
    assert.equal(r.status, 200);
    assert.deepEqual((r.body as Tokens).accounts, [2002]);
    r = await call(t.sb, 'POST', '/token', {
      form: { username: 'demo@cakemail.test', password: 'demo-password', account_id: '2002' },
    });
    assert.equal(r.status, 403);
    assert.equal(schemaErrors('HTTPForbiddenError', r.body), null);
    assert.equal((r.body as { detail: Array<{ type: string }> }).detail[0]?.type, 'forbidden');
  });

  it('MFA users answer a challenge (in a 200, or in a 401 like the docs say), never a token', async () => {
    let r = await call(t.sb, 'POST', '/token', {
      form: { username: 'mfa@cakemail.test', password: 'mfa-password' },
    });
    assert.equal(r.status, 200);
    assert.equal(schemaErrors('ChallengeResponse', r.body), null);
    assert.deepEqual(Object.keys(r.body as object), ['challenge']);
    assert.match((r.body as { challenge: string }).challenge, /^[0-9a-f]{32}$/);
    r = await call(t.sb, 'POST', '/token', {
      form: { username: 'mfa401@cakemail.test', password: 'mfa401-password' },
    });
    assert.equal(r.status, 401);
    const b = r.body as { challenge: string; detail: unknown };
    assert.match(b.challenge, /^[0-9a-f]{32}$/);
    assert.deepEqual(b.detail, [{ msg: 'Multi-factor authentication required', type: 'unauthorized' }]);
    // A wrong password for an MFA user is a plain 401 without challenge.
    r = await call(t.sb, 'POST', '/token', { form: { username: 'mfa@cakemail.test', password: 'bad' } });
    assert.equal(r.status, 401);
    assert.equal((r.body as Record<string, unknown>).challenge, undefined);
  });

  it('refresh_token grant issues a new working pair; the old refresh token stays valid', async () => {
    const first = await login(t.sb);
    const r = await call(t.sb, 'POST', '/token', {
      form: { grant_type: 'refresh_token', refresh_token: first.refresh_token },
    });
    assert.equal(r.status, 200);
    assert.equal(schemaErrors('TokenResponse', r.body), null);
    const second = r.body as Tokens;
    assert.notEqual(second.access_token, first.access_token);
    assert.notEqual(second.refresh_token, first.refresh_token);
    assert.deepEqual(second.accounts, [1001]);
    const senders = await call(t.sb, 'GET', '/brands/default/senders', { token: second.access_token });
    assert.equal(senders.status, 200);
    const again = await call(t.sb, 'POST', '/token', {
      form: { grant_type: 'refresh_token', refresh_token: first.refresh_token },
    });
    assert.equal(again.status, 200);
    const stats = t.sb.stats();
    assert.ok(stats.refresh >= 2);
  });

  it('an unknown refresh token answers 401; a missing one 422; an access token is not a refresh token', async () => {
    let r = await call(t.sb, 'POST', '/token', {
      form: { grant_type: 'refresh_token', refresh_token: 'nope' },
    });
    assert.equal(r.status, 401);
    assert.deepEqual(r.body, { detail: [{ msg: 'Invalid or expired refresh token', type: 'unauthorized' }] });
    r = await call(t.sb, 'POST', '/token', { form: { grant_type: 'refresh_token' } });
    assert.equal(r.status, 422);
    assert.deepEqual(r.body, {
      detail: [{ loc: ['body', 'refresh_token'], msg: 'field required', type: 'value_error.missing' }],
    });
    const tok = await login(t.sb);
    r = await call(t.sb, 'POST', '/token', {
      form: { grant_type: 'refresh_token', refresh_token: tok.access_token },
    });
    assert.equal(r.status, 401);
  });

  it('counts password and refresh grants separately', async () => {
    t.sb.resetStats();
    const tok = await login(t.sb);
    await call(t.sb, 'POST', '/token', {
      form: { grant_type: 'refresh_token', refresh_token: tok.refresh_token },
    });
    await call(t.sb, 'POST', '/token', {
      form: { grant_type: 'password', username: 'x@y.z', password: 'no' },
    });
    assert.deepEqual(t.sb.stats(), {
      token: 2,
      refresh: 1,
      senders: 0,
      emails: 0,
      accepted: 0,
      rejectedInvalid: 0,
      faulted: 0,
    });
  });
});

describe('sandbox token expiry', () => {
  let t: TestSandbox;
  before(async () => {
    t = await startTestSandbox({ tokenTtlSeconds: 1, writeOutbox: false });
  });
  after(() => t.stop());

  it('a token expires after tokenTtlSeconds (401) and a refresh brings a working one', async () => {
    const tok = await login(t.sb);
    assert.equal(tok.expires_in, 1);
    const ok = await call(t.sb, 'GET', '/brands/default/senders', { token: tok.access_token });
    assert.equal(ok.status, 200);
    let last: Awaited<ReturnType<typeof call>> | undefined;
    await waitFor(
      async () => {
        last = await call(t.sb, 'GET', '/brands/default/senders', { token: tok.access_token });
        return last.status !== 200;
      },
      5000,
      'token expiry',
    );
    assert.equal(last?.status, 401);
    assert.deepEqual(last?.body, { detail: [{ msg: 'Token has expired', type: 'unauthorized' }] });
    const r = await call(t.sb, 'POST', '/token', {
      form: { grant_type: 'refresh_token', refresh_token: tok.refresh_token },
    });
    assert.equal(r.status, 200);
    const fresh = await call(t.sb, 'GET', '/brands/default/senders', {
      token: (r.body as Tokens).access_token,
    });
    assert.equal(fresh.status, 200);
  });

  it('tokenTtlSeconds 0 gives tokens that are already expired', async () => {
    const z = await startTestSandbox({ tokenTtlSeconds: 0, writeOutbox: false });
    try {
      const tok = await login(z.sb);
      assert.equal(tok.expires_in, 0);
      const r = await call(z.sb, 'GET', '/brands/default/senders', { token: tok.access_token });
      assert.equal(r.status, 401);
    } finally {
      await z.stop();
    }
  });
});
