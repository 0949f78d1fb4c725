// Config: validated once, frozen, one-line errors, secrets masked by `npm run config`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.ts';

const REPO = new URL('../../', import.meta.url).pathname;

test('defaults: non-root SMTP port, 25 MiB, 100 recipients; the result is frozen', () => {
  const config = loadConfig({});
  assert.equal(config.SMTP_PORT, 2525);
  assert.equal(config.MESSAGE_SIZE_LIMIT, 25 * 1024 * 1024);
  assert.equal(config.MAX_RECIPIENTS, 100);
  assert.ok(Object.isFrozen(config));
});

test('a bad value is one ConfigError line naming the variable, the value and what is allowed', () => {
  assert.throws(
    () => loadConfig({ SMTP_PORT: '70000' }),
    (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /^Invalid configuration: SMTP_PORT="70000": .*65535/);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    },
  );
  assert.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), /LOG_LEVEL="loud"/);
  assert.throws(() => loadConfig({ TRUSTED_NETWORKS: '10.0.0.0/8,not-a-cidr' }), /TRUSTED_NETWORKS/);
});

test('production refuses to start without CAKEMAIL_API_URL or TLS files (never a silent sandbox)', () => {
  assert.throws(() => loadConfig({ NODE_ENV: 'production' }), /CAKEMAIL_API_URL is required/);
  assert.throws(
    () => loadConfig({ NODE_ENV: 'production', CAKEMAIL_API_URL: 'https://api.cakemail.dev' }),
    /TLS_CERT_PATH and TLS_KEY_PATH are required/,
  );
});

test('`npm run config` prints the resolved config with secrets masked', async () => {
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      ['src/config/print.ts'],
      {
        cwd: REPO,
        env: { PATH: process.env.PATH, REDIS_URL: 'redis://gateway:s3cr3t-redis@10.0.0.5:6379/0' },
      },
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    ),
  );
  const printed = JSON.parse(out) as Record<string, unknown>;
  assert.equal(printed.SMTP_PORT, 2525);
  assert.doesNotMatch(out, /s3cr3t-redis/);
  assert.match(String(printed.REDIS_URL), /\*\*\*\*/);
});
