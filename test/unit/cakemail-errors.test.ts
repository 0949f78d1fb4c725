/** Classification of Cakemail answers, reason texts, the caches' building blocks. Plain data. */
import { createSecretKey } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CakemailError,
  classifyStatus,
  detailText,
  isPermanent,
  isRetryable,
  isUpstreamFailure,
} from '../../src/cakemail/errors.ts';
import { LruTtlCache, credentialKey } from '../../src/cakemail/token-cache.ts';
import { renewAt } from '../../src/cakemail/authenticator.ts';

test('detail: string, list of {msg, loc}, absent', () => {
  assert.equal(detailText({ detail: 'Not Found' }, 'x'), 'Not Found');
  assert.equal(
    detailText(
      {
        detail: [
          { loc: ['body', 'content', 'subject'], msg: 'field required', type: 'value_error' },
          { msg: 'bad' },
        ],
      },
      'x',
    ),
    'content.subject: field required; bad',
  );
  assert.equal(detailText({ nope: 1 }, 'HTTP 500'), 'HTTP 500');
  assert.equal(detailText('plain text body', 'HTTP 502'), 'HTTP 502');
  assert.equal(detailText({ detail: 'a\r\n  b' }, 'x'), 'a b');
  assert.equal(detailText({ detail: 'x'.repeat(1000) }, 'x').length, 300);
});

test('status → kind, per endpoint and grant', () => {
  const k = (
    endpoint: 'token' | 'senders' | 'emails',
    status: number,
    body: unknown = {},
    grant?: 'password' | 'refresh_token',
  ) => classifyStatus(endpoint, status, body, grant).kind;
  assert.equal(k('token', 401, {}, 'password'), 'credentials');
  assert.equal(k('token', 400, {}, 'password'), 'credentials');
  assert.equal(k('token', 422, {}, 'password'), 'credentials');
  assert.equal(k('token', 401, {}, 'refresh_token'), 'session_expired');
  assert.equal(k('token', 401, { challenge: 'abc' }, 'password'), 'mfa');
  assert.equal(k('token', 429), 'throttled');
  assert.equal(k('token', 503), 'unavailable');
  assert.equal(k('emails', 401), 'session_expired');
  assert.equal(k('emails', 403), 'forbidden');
  assert.equal(k('emails', 400), 'validation');
  assert.equal(k('emails', 413), 'validation');
  assert.equal(k('emails', 422), 'validation');
  assert.equal(k('emails', 429), 'throttled');
  assert.equal(k('emails', 500), 'unavailable');
  assert.equal(k('emails', 502), 'unavailable');
  assert.equal(k('emails', 504), 'ambiguous', "a proxy's timeout: the email may have been sent");
  assert.equal(k('senders', 504), 'unavailable', 'a lookup changes nothing: retried');
  assert.equal(k('emails', 404), 'unavailable', 'a misrouted URL must not bounce mail');
  assert.equal(k('senders', 408), 'unavailable');
});

test('retryable, permanent and breaker-worthy kinds', () => {
  const e = (kind: CakemailError['kind'], status = 0) => new CakemailError(kind, 'emails', status, 'x');
  for (const kind of ['throttled', 'unavailable', 'timeout'] as const) assert.ok(isRetryable(e(kind)), kind);
  for (const kind of [
    'ambiguous',
    'validation',
    'forbidden',
    'rejected',
    'session_expired',
    'credentials',
    'mfa',
  ] as const) {
    assert.ok(!isRetryable(e(kind)), `${kind} must not be retried`);
  }
  assert.ok(!isRetryable(new Error('x')));
  for (const kind of ['validation', 'forbidden', 'rejected'] as const) assert.ok(isPermanent(e(kind)));
  assert.ok(!isPermanent(e('ambiguous')));
  assert.ok(isUpstreamFailure(e('unavailable', 503)));
  assert.ok(isUpstreamFailure(e('unavailable', 0)));
  assert.ok(isUpstreamFailure(e('timeout')));
  assert.ok(isUpstreamFailure(e('ambiguous')));
  assert.ok(
    !isUpstreamFailure(e('throttled', 429)),
    '429 is per account: it must not open the shared breaker',
  );
  assert.ok(!isUpstreamFailure(e('unavailable', 201)), 'data.status error is an answer');
  assert.ok(!isUpstreamFailure(e('validation', 422)));
});

test('LruTtlCache: expiry, LRU eviction, touch', () => {
  let now = 1000;
  const c = new LruTtlCache<number>(2, () => now);
  c.set('a', 1, 100);
  c.set('b', 2, 100);
  assert.equal(c.get('a'), 1); // a is now the most recent
  c.set('c', 3, 100); // evicts b
  assert.equal(c.get('b'), undefined);
  assert.equal(c.get('a'), 1);
  now += 50;
  c.touch('a', 100);
  now += 60;
  assert.equal(c.get('c'), undefined, 'expired');
  assert.equal(c.get('a'), 1, 'touched');
  c.set('z', 9, 0);
  assert.equal(c.get('z'), undefined, 'ttl 0 stores nothing');
});

test('credentialKey: keyed, case-insensitive username, exact password, unambiguous', () => {
  const k1 = Buffer.alloc(32, 1);
  const k2 = Buffer.alloc(32, 2);
  assert.equal(credentialKey(k1, 'Demo@X.test', 'pw'), credentialKey(k1, 'demo@x.test', 'pw'));
  assert.notEqual(credentialKey(k1, 'demo@x.test', 'pw'), credentialKey(k1, 'demo@x.test', 'PW'));
  assert.notEqual(credentialKey(k1, 'demo@x.test', 'pw'), credentialKey(k2, 'demo@x.test', 'pw'));
  assert.notEqual(credentialKey(k1, 'ab', 'c'), credentialKey(k1, 'a', 'bc'));
  assert.doesNotMatch(credentialKey(k1, 'demo@x.test', 'secret-pw'), /secret|demo/);
  // The authenticator holds its secret as a KeyObject: the same key as from the Buffer.
  assert.equal(
    credentialKey(createSecretKey(k1), 'demo@x.test', 'pw'),
    credentialKey(k1, 'demo@x.test', 'pw'),
  );
});

test('renewAt: 60 s before expiry for long tokens, 80 % of life for short ones', () => {
  assert.equal(renewAt(0, 432_000), 432_000_000 - 60_000);
  assert.equal(renewAt(0, 600), 540_000);
  assert.equal(renewAt(0, 100), 80_000);
  assert.equal(renewAt(0, 0), 0);
});
