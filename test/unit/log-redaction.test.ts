// The logs' secret backstop: the value of a key named like a secret never reaches a log
// line, at any depth and of any JSON type, and nothing else in the line changes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import fc from 'fast-check';
import { CENSOR, redactSecrets } from '../../src/log-redaction.ts';

const SECRET_NAMES = [
  'password',
  'Password',
  'smtpPassword',
  'passwd',
  'token',
  'accessToken',
  'access_token',
  'refresh_token',
  'refreshToken',
  'clientSecret',
  'authorization',
  'Authorization',
  'cookie',
  'pass',
  'key',
  'apiKey',
  'api_key',
  'API-KEY',
  'authKey',
  'ticketKeys',
  'ticket_key',
];
const PLAIN_NAMES = [
  'msg',
  'event',
  'keys',
  'monkey',
  'passes',
  'bypass',
  'tokens',
  'tokenExpiry',
  'secretary',
  'a',
];
const secretName = (k: string) => SECRET_NAMES.includes(k);

/** The specification: a deep copy with every secret key's value replaced. */
function censored(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(censored);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, secretName(k) ? CENSOR : censored(v)]));
}

const line = (o: unknown) => `${JSON.stringify(o)}\n`;

test('values of secret keys are censored at every depth and of every JSON type', () => {
  const o = {
    level: 30,
    password: 'hunter2',
    err: {
      type: 'Error',
      message: 'boom',
      token: 'eyJ.x.y',
      cause: { headers: { authorization: 'Bearer t' } },
    },
    list: [{ apiKey: 42 }, { refresh_token: null }, { accessToken: true }],
    clientSecret: { nested: ['a', { b: 'c' }] },
    key: ['x', 'y'],
    msg: 'done',
  };
  const out = redactSecrets(line(o));
  assert.deepEqual(JSON.parse(out), censored(o));
  for (const secret of ['hunter2', 'eyJ.x.y', 'Bearer t', '42', 'nested'])
    assert.ok(!out.includes(secret), secret);
  assert.ok(out.endsWith('"msg":"done"}\n'));
});

test('a line without secret keys is returned as it is (the same string)', () => {
  const l = line({ level: 30, msg: 'keys and tokens and passes', keys: 3, tokens: ['a'], bypass: 'x' });
  assert.equal(redactSecrets(l), l);
});

test('key-like text inside a string value is text, not a key', () => {
  const o = {
    msg: 'client sent {"password":"hunter2"}, "token":"t" and ,"key":1',
    detail: 'ends with a backslash \\',
    next: 'still here',
  };
  assert.equal(redactSecrets(line(o)), line(o));
});

test('secret values holding quotes, backslashes and brackets end where the JSON value ends', () => {
  const o = { password: 'a"b\\"}],"token":"x\\', after: 1, token: '\\\\', last: '{[' };
  assert.deepEqual(JSON.parse(redactSecrets(line(o))), censored(o));
});

test('property: any object, secret keys anywhere: parses to the censored object', () => {
  const keys = fc.oneof(
    fc.constantFrom(...SECRET_NAMES, ...PLAIN_NAMES),
    fc.string().filter((k) => k !== '__proto__' && !/pass|secret|token|auth|cookie|key/i.test(k)),
  );
  const { value } = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.string(),
      fc.constantFrom('{"password":"x"}', ',"token":', '\\', '"', '}]', '\\"'),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(keys, tie('value'), { maxKeys: 5 }),
    ),
  }));
  fc.assert(
    fc.property(fc.dictionary(keys, value, { maxKeys: 6 }), (o) => {
      const out = redactSecrets(line(o));
      assert.ok(out.endsWith('\n'));
      assert.deepEqual(JSON.parse(out), JSON.parse(JSON.stringify(censored(o))));
    }),
    { numRuns: 2000 },
  );
});

test('createLogger writes every line through it: fields, errors and child bindings', () => {
  const script = `
    import { createLogger } from ${JSON.stringify(new URL('../../src/log.ts', import.meta.url).href)};
    const log = createLogger({ level: 'info', format: 'json', role: 'tool' });
    const err = Object.assign(new Error('refused'), { password: 'hunter2' });
    log.child({ session: 's1', accessToken: 'child-token' }).info({ err, upstream: { headers: { authorization: 'Bearer abc' } } }, 'x');
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  const entry = JSON.parse(out) as Record<string, unknown>;
  assert.equal(entry.accessToken, CENSOR);
  assert.equal((entry.err as Record<string, unknown>).password, CENSOR);
  assert.equal((entry.err as Record<string, unknown>).message, 'refused');
  assert.deepEqual(entry.upstream, { headers: { authorization: CENSOR } });
  for (const secret of ['hunter2', 'child-token', 'Bearer abc']) assert.ok(!out.includes(secret), secret);
});
