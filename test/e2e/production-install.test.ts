// The production install, without Docker: the files the image is built from, `npm ci --omit=dev`
// exactly as the Dockerfile runs it, then the image's own ENTRYPOINT/CMD with NODE_ENV=production
// against a sandbox API and a real certificate. Proves the production dependencies suffice (no dev
// dependency is imported at runtime) and that production refuses to start without an upstream.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { generate } from 'selfsigned';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.ts';
import { imageContextCopies, imageEntrypoint, imageEnv, REPO_ROOT } from '../deployment/dockerfile.ts';
import { DEMO, mime, outboxOf, sendOnce } from '../helpers/sandbox.ts';

/** What the image gets from the build context, plus the lockfile its deps stage installs from. */
const COPIED = ['package.json', 'package-lock.json', 'src', 'workers', 'ecosystem.config.js'];
const CONFIG_ERROR =
  'Invalid configuration: CAKEMAIL_API_URL is required when NODE_ENV=production (the sandbox never runs in production)';

let dir: string;
let app: string;
let sandbox: Sandbox;
let tls: { cert: string; key: string };

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    child.once('close', (code) => resolve({ code, output }));
  });
}

/** The image's argv, with this test's Node 24 standing in for the image's `node` (also Node 24). */
function entrypoint(): [string, string[]] {
  const [cmd, ...args] = imageEntrypoint();
  return [cmd === 'node' ? process.execPath : cmd!, args];
}

/** The image's environment, then this test's loopback ports, paths and upstream. */
function productionEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    ...imageEnv(),
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    SMTP_WORKERS: '2',
    DATA_DIR: join(dir, 'data'),
    TLS_CERT_PATH: join(dir, 'tls/tls.crt'),
    TLS_KEY_PATH: join(dir, 'tls/tls.key'),
    ...extra,
  };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gw-prod-'));
  app = join(dir, 'app');
  await mkdir(app);
  const fromImage = imageContextCopies().flatMap((c) => c.sources);
  for (const s of fromImage) assert.ok(COPIED.includes(s), `the image copies ${s}: this test must too`);
  for (const f of COPIED) await cp(join(REPO_ROOT, f), join(app, f), { recursive: true });

  // The Dockerfile's install line, offline when the npm cache has everything.
  const npm = await run(
    'npm',
    ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'],
    app,
    {
      ...process.env,
      PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
      NODE_ENV: 'production',
    },
    240_000,
  );
  assert.equal(npm.code, 0, npm.output);

  const pems = await generate([{ name: 'commonName', value: 'smtp.gateway.test' }], {
    algorithm: 'sha256',
    keySize: 2048,
  });
  tls = { cert: pems.cert, key: pems.private };
  await mkdir(join(dir, 'tls'));
  await writeFile(join(dir, 'tls/tls.crt'), tls.cert);
  await writeFile(join(dir, 'tls/tls.key'), tls.key, { mode: 0o600 });
  sandbox = await startSandbox({ dataDir: join(dir, 'sandbox'), writeOutbox: false });
});

after(async () => {
  await sandbox?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('npm ci --omit=dev installs production dependencies only', () => {
  for (const dep of ['express', 'smtp-server', 'mailparser', 'undici', 'prom-client', 'selfsigned'])
    assert.ok(existsSync(join(app, 'node_modules', dep)), `${dep} installed`);
  for (const dev of ['typescript', 'nodemailer', 'playwright-core', 'pm2', 'fast-check', 'eslint', 'node'])
    assert.ok(!existsSync(join(app, 'node_modules', dev)), `dev dependency ${dev} absent`);
});

test(
  'the image entrypoint with NODE_ENV=production: ready, healthy, a mail gets 250 and reaches the API',
  { timeout: 60_000 },
  async () => {
    const [cmd, args] = entrypoint();
    const env = productionEnv({ CAKEMAIL_API_URL: sandbox.url });
    assert.equal(env.NODE_ENV, 'production', 'the image sets NODE_ENV=production');
    const child = spawn(cmd, args, { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      createInterface({ input: child.stderr }).on('line', (l) => output.push(l));
      const ready = await new Promise<{ smtpPort: number; httpPort: number; upstream: string }>(
        (resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`not ready in 30 s:\n${output.join('\n')}`)),
            30_000,
          );
          void exited.then((code) => reject(new Error(`exited with ${code}:\n${output.join('\n')}`)));
          createInterface({ input: child.stdout }).on('line', (line) => {
            output.push(line);
            try {
              const l = JSON.parse(line) as {
                event?: string;
                smtpPort: number;
                httpPort: number;
                upstream: string;
              };
              if (l.event === 'gateway.ready') {
                clearTimeout(timer);
                resolve(l);
              }
            } catch {
              // not JSON
            }
          });
        },
      );
      assert.equal(ready.upstream, 'cakemail', 'the configured API, not the embedded sandbox');

      const health = await fetch(`http://127.0.0.1:${ready.httpPort}/health/ready`);
      assert.equal(health.status, 200, await health.text());
      const metrics = await fetch(`http://127.0.0.1:${ready.httpPort}/metrics`);
      assert.equal(metrics.status, 200);

      const subject = 'production install check';
      const reply = await sendOnce(
        ready.smtpPort,
        ['someone@example.com'],
        mime(
          [`From: ${DEMO.user}`, 'To: someone@example.com', `Subject: ${subject}`],
          'Hello from production.\r\n',
        ),
      );
      assert.match(reply.text, /^250 2\.0\.0 Ok: queued as /, reply.text);
      const [entry] = await outboxOf(sandbox, 1);
      const request = entry!.request as { email: string; content: { subject: string; text: string } };
      assert.equal(request.email, 'someone@example.com');
      assert.equal(request.content.subject, subject);
      assert.match(request.content.text, /Hello from production\./);

      assert.ok(!output.join('\n').includes(DEMO.pass), 'the password is never logged');
      child.kill('SIGTERM');
      assert.equal(await exited, 0, output.slice(-20).join('\n'));
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  },
);

test('NODE_ENV=production without CAKEMAIL_API_URL: one config line on stderr, exit 78', async () => {
  const [cmd, args] = entrypoint();
  const env = productionEnv({});
  delete env.CAKEMAIL_API_URL;
  const child = spawn(cmd, args, { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  assert.equal(code, 78, stderr);
  assert.equal(stderr, `${CONFIG_ERROR}\n`);
  assert.equal(stdout, '');
});
