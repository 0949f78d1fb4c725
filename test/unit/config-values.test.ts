// Config values that pass validation must work: what would fail only later (a crash at
// start-up naming no variable, workers crash-looping) is refused by loadConfig, in one line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { createTrustedNetworks } from '../../src/primary/trusted-networks.ts';

const refused = (env: Record<string, string>, variable: string) =>
  assert.throws(
    () => loadConfig(env),
    (err: Error) =>
      err instanceof ConfigError && err.message.startsWith(`Invalid configuration: ${variable}=`),
    JSON.stringify(env),
  );

test('TRUSTED_NETWORKS: a prefix out of range or an address that is none is refused, not a crash at start', () => {
  for (const bad of [
    '10.0.0.0/33',
    '::1/129',
    '1.2.3',
    '1.2.3.4.5',
    'abc',
    '10.0.0.0/8,300.1.1.1',
    '10.0.0.0/8/8',
  ])
    refused({ TRUSTED_NETWORKS: bad }, 'TRUSTED_NETWORKS');
  const good = '10.0.0.0/8, 192.168.1.7, ::1/128, fd00::/8, ::ffff:172.16.0.0/108, 0.0.0.0/0';
  const config = loadConfig({ TRUSTED_NETWORKS: good });
  assert.equal(config.TRUSTED_NETWORKS.length, 6);
  const trusted = createTrustedNetworks(config.TRUSTED_NETWORKS); // what the primary does at start
  assert.ok(trusted('10.1.2.3'));
  assert.ok(trusted('::ffff:192.168.1.7'));
});

test('CAKEMAIL_API_URL must be http(s): a URL the API client cannot use is refused, not a worker crash loop', () => {
  for (const bad of ['api.cakemail.dev:443', 'localhost:3000', 'ftp://api.cakemail.dev', 'mailto:a@b.c'])
    refused({ CAKEMAIL_API_URL: bad }, 'CAKEMAIL_API_URL');
  for (const good of ['https://api.cakemail.dev', 'http://127.0.0.1:9', 'https://api.cakemail.dev/v2/'])
    assert.equal(loadConfig({ CAKEMAIL_API_URL: good }).CAKEMAIL_API_URL, good);
});

test('a blank value (spaces only) is unset like an empty one, never the number 0 (which turns limits off)', () => {
  const config = loadConfig({
    RATE_LIMIT_PER_IP: ' ',
    AUTH_LOCKOUT_THRESHOLD: '  ',
    SMTP_PORT: '\t',
    DATA_DIR: ' ',
  });
  assert.equal(config.RATE_LIMIT_PER_IP, 600);
  assert.equal(config.AUTH_LOCKOUT_THRESHOLD, 5);
  assert.equal(config.SMTP_PORT, 2525);
  assert.equal(config.DATA_DIR, '.data');
  assert.equal(loadConfig({ SMTP_PORT: ' 2526 ' }).SMTP_PORT, 2526, 'padding around a number is still fine');
});
