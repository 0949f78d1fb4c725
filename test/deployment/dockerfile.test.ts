/**
 * deployment/docker/Dockerfile: two linters (Docker's own syntax rules via dockerfile-utils,
 * best practices via dockerfilelint) plus the facts the deployment relies on, and the
 * HEALTHCHECK command executed for real against a loopback HTTP server.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { validate } from 'dockerfile-utils';
import { run as dockerfilelint } from 'dockerfilelint';
import { CONFIG_VARIABLES } from '../../src/config/schema.ts';
import {
  REPO_ROOT,
  imageContextCopies,
  imageEntrypoint,
  imageEnv,
  imageHealthcheck,
  imageUser,
  parseStages,
  readDockerfile,
  runtimeStage,
} from './dockerfile.ts';
import { isExcluded, parseDockerignore } from './dockerignore.ts';
import { pathToFileURL } from 'node:url';
import { PRIMARY_NODE_FLAGS } from '../../src/primary/node-flags.ts';

// pm2's process file, as pm2 reads it: its node_args must be the image's and npm start's.
const { apps } = (await import(pathToFileURL(join(REPO_ROOT, 'ecosystem.config.js')).href)) as {
  apps: { node_args?: string[] }[];
};

const content = readDockerfile();
const stages = parseStages(content);
const runtime = runtimeStage(content);

describe('Dockerfile linters', () => {
  it('passes dockerfile-utils (the Docker builder rules), which does flag a broken file', () => {
    assert.deepEqual(
      validate(content).map((d) => `${d.range.start.line + 1}: ${d.message}`),
      [],
    );
    const broken = validate(
      'FROM node:24-slim\nEXPOSE 8080/tcpx\nHEALTHCHECK --interval=5 CMD true\nCOPY --bogus=1 a b\n',
    );
    assert.deepEqual(
      broken.map((d) => d.message),
      ['Invalid proto: tcpx', 'time: missing unit in duration 5', 'Unknown flag: bogus'],
    );
  });

  it('passes dockerfilelint (best practices), which does flag a sloppy file', () => {
    const issues = dockerfilelint('', content).map((i) => `${i.line}: ${i.title}`);
    assert.deepEqual(issues, []);
    const sloppy = dockerfilelint('', 'FROM node\nRUN apt-get install curl\n');
    assert.ok(sloppy.some((i) => i.title === 'Base Image Missing Tag'));
  });
});

describe('Dockerfile facts', () => {
  it('builds every stage from the official node:24-slim image, pinned by tag', () => {
    assert.ok(stages.length >= 2, 'multi-stage: dependencies are installed in a separate stage');
    for (const s of stages) assert.match(s.image, /^node:24(\.\d+){0,2}-slim(@sha256:[0-9a-f]{64})?$/);
  });

  it('installs production dependencies only, with npm ci from the lockfile, in a build stage', () => {
    const build = stages.slice(0, -1).flatMap((s) => s.instructions);
    const npmCi = build.filter((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
    assert.equal(npmCi.length, 1);
    assert.match(npmCi[0]?.args ?? '', /--omit=dev\b/);
    const copiesLock = build.some((i) => i.keyword === 'COPY' && /\bpackage-lock\.json\b/.test(i.args));
    assert.ok(copiesLock, 'npm ci needs the lockfile');
    const all = stages.flatMap((s) => s.instructions);
    assert.ok(
      !all.some((i) => i.keyword === 'RUN' && /\bnpm (install|i)\b/.test(i.args)),
      'npm install in image',
    );
    // node_modules reach the runtime stage only from the build stage.
    const fromStage = runtime.instructions.filter(
      (i) => i.keyword === 'COPY' && i.flags['from'] !== undefined,
    );
    assert.deepEqual(
      fromStage.map((i) => [i.flags['from'], i.args]),
      [[stages[0]?.name, '/app/node_modules ./node_modules']],
    );
    assert.ok(!runtime.instructions.some((i) => i.keyword === 'RUN' && /\bnpm\b/.test(i.args)));
  });

  it('never uses ADD (no remote URLs, no archive magic)', () => {
    const adds = stages.flatMap((s) => s.instructions).filter((i) => i.keyword === 'ADD');
    assert.deepEqual(adds, []);
    const remote = stages
      .flatMap((s) => s.instructions)
      .filter(
        (i) => /\b(https?|ftp):\/\/(?!127\.0\.0\.1[:/])/i.test(i.args) || /\b(curl|wget)\b/.test(i.args),
      );
    assert.deepEqual(remote, [], 'nothing is fetched from the network at build time');
  });

  it('runs as UID/GID 1000 (the image\'s "node" user), numerically so runAsNonRoot can verify it', () => {
    assert.equal(imageUser(content), '1000:1000');
    const users = stages.flatMap((s) => s.instructions).filter((i) => i.keyword === 'USER');
    assert.ok(users.every((u) => !/^(root|0)(:|$)/.test(u.args)));
    const lastUser = runtime.instructions.findLastIndex((i) => i.keyword === 'USER');
    const lastRun = runtime.instructions.findLastIndex((i) => i.keyword === 'RUN');
    assert.ok(lastUser > lastRun, 'USER comes after every RUN of the runtime stage');
  });

  it('is production by default and writes only to /data (DATA_DIR) and /tmp, both declared', () => {
    const env = imageEnv(content);
    assert.equal(env['NODE_ENV'], 'production');
    assert.equal(env['DATA_DIR'], '/data');
    const volumes = runtime.instructions
      .filter((i) => i.keyword === 'VOLUME')
      .flatMap((i) => JSON.parse(i.args));
    assert.deepEqual(volumes.sort(), ['/data', '/tmp']);
    const prepares = runtime.instructions.some(
      (i) =>
        i.keyword === 'RUN' && /mkdir -p \/data\b/.test(i.args) && /chown 1000:1000 \/data\b/.test(i.args),
    );
    assert.ok(prepares, '/data exists and belongs to UID 1000 before the volume is declared');
    // Node's own variables are allowed; everything else must be a gateway setting.
    const NODE_RUNTIME = ['NODE_COMPILE_CACHE'];
    for (const name of Object.keys(env))
      assert.ok(name in CONFIG_VARIABLES || NODE_RUNTIME.includes(name), `ENV ${name} is not a setting`);
    // The compile cache must be somewhere writable under a read-only root: /tmp.
    assert.match(env['NODE_COMPILE_CACHE'] ?? '', /^\/tmp\//);
  });

  it('exposes the default SMTP and HTTP ports of the config schema', () => {
    const exposed = runtime.instructions
      .filter((i) => i.keyword === 'EXPOSE')
      .flatMap((i) => i.args.split(' '));
    assert.deepEqual(exposed, ['2525', '8080']);
    assert.equal(CONFIG_VARIABLES.SMTP_PORT[1], '2525');
    assert.equal(CONFIG_VARIABLES.HTTP_PORT[1], '8080');
    const env = imageEnv(content);
    assert.deepEqual([env['SMTP_PORT'], env['HTTP_PORT']], exposed);
  });

  it('starts with `node <primary flags> src/main.ts` in /app, the same command as npm start and pm2', () => {
    assert.deepEqual(imageEntrypoint(content), ['node', ...PRIMARY_NODE_FLAGS, 'src/main.ts']);
    assert.deepEqual(apps[0]?.node_args, [...PRIMARY_NODE_FLAGS]);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    assert.deepEqual(pkg.scripts['start']?.split(' '), imageEntrypoint(content));
    assert.ok(runtime.instructions.some((i) => i.keyword === 'STOPSIGNAL' && i.args === 'SIGTERM'));
  });

  it('copies from the build context only files that exist, none of them ignored', () => {
    const copies = imageContextCopies(content);
    const sources = copies.flatMap((c) => c.sources).sort();
    assert.deepEqual(sources, ['package.json', 'src', 'workers'].sort());
    const ignore = parseDockerignore(readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8'));
    for (const s of [
      ...sources,
      ...stages[0]!.instructions
        .filter((i) => i.keyword === 'COPY')
        .flatMap((i) => i.args.split(' ').slice(0, -1)),
    ]) {
      assert.ok(existsSync(join(REPO_ROOT, s)), `${s} is copied but does not exist`);
      assert.equal(isExcluded(ignore, s), false, `${s} is copied but .dockerignore leaves it out`);
    }
  });
});

describe('.dockerignore', () => {
  const ignore = parseDockerignore(readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8'));

  it('keeps the sources the image needs', () => {
    for (const p of [
      'package.json',
      'package-lock.json',
      'src/config/schema.ts',
      'src/primary/http/app.ts',
      'workers/smtp-worker.ts',
    ]) {
      assert.equal(isExcluded(ignore, p), false, p);
    }
  });

  it('leaves out dependencies, git, tests, docs, deployment files, local data and secrets', () => {
    for (const p of [
      'node_modules/zod/package.json',
      '.git/HEAD',
      'test/deployment/dockerfile.test.ts',
      'docs/operations.md',
      'deployment/docker/Dockerfile',
      'deployment/helm/smtp-gateway/values.yaml',
      '.data/tls/key.pem',
      '.env',
      'src/.env',
      'src/primary/http/app.test.ts',
      'src/dev-key.pem',
      'coverage/lcov.info',
    ]) {
      assert.equal(isExcluded(ignore, p), true, p);
    }
  });

  it('matcher sanity: last rule wins, parents count, * stays in a segment', () => {
    const rules = parseDockerignore('*\n!src/\nsrc/secret\n*.md\n');
    assert.equal(isExcluded(rules, 'src/a/b.ts'), false);
    assert.equal(isExcluded(rules, 'src/secret/x'), true);
    assert.equal(isExcluded(rules, 'README.md'), true);
    assert.equal(isExcluded(rules, 'src/notes.md'), false);
  });
});

describe('HEALTHCHECK', () => {
  const { argv, flags } = imageHealthcheck(content);

  async function probe(status: number | null): Promise<number | null> {
    const server = createServer((req, res) => {
      res.statusCode = req.url === '/health/live' ? (status ?? 500) : 404;
      res.end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    if (status === null) await new Promise((r) => server.close(r)); // nothing listens on that port any more
    try {
      const [cmd, ...args] = argv;
      assert.equal(cmd, 'node');
      return await new Promise((resolve) => {
        const child = execFile(process.execPath, args, { env: { HTTP_PORT: String(port) }, timeout: 10_000 });
        child.on('exit', (code) => resolve(code));
      });
    } finally {
      if (status !== null) server.close();
    }
  }

  it('probes /health/live with node (no curl in slim images), bounded by the timeout', () => {
    assert.match(argv.join(' '), /\/health\/live/);
    assert.equal(flags['timeout'], '5s');
    assert.match(
      argv.join(' '),
      /AbortSignal\.timeout\(4000\)/,
      'fetch gives up before Docker kills the probe',
    );
  });

  it('exits 0 when /health/live answers 200', async () => {
    assert.equal(await probe(200), 0);
  });

  it('exits 1 when /health/live answers 503', async () => {
    assert.equal(await probe(503), 1);
  });

  it('exits 1 when nothing listens', async () => {
    assert.equal(await probe(null), 1);
  });
});
