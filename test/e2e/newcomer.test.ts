// The README's first command: with no CAKEMAIL_API_URL in development the gateway starts the
// sandbox, logs the demo account and a swaks command; pasting that command delivers a mail
// that appears in the data dir's outbox.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { HAVE_SWAKS, run } from '../helpers/clients.ts';

test(
  'npm start on the embedded default: the logged swaks command delivers to the sandbox outbox',
  { skip: !HAVE_SWAKS && 'swaks not installed' },
  async () => {
    const gw = await startGateway({ testMailSide: false, env: { NODE_ENV: 'development' } });
    try {
      const demo = await gw.waitForLog((l) => l.event === 'sandbox.demo');
      const command = demo.swaks as string;
      assert.match(command, new RegExp(`^swaks --server 127\\.0\\.0\\.1:${gw.smtpPort} --tls --auth PLAIN `));
      const res = await run('bash', ['-c', command]);
      assert.equal(res.code, 0, res.stdout + res.stderr);
      assert.match(res.stdout, /<~ {2}250 2\.0\.0 Ok: queued as /);
      const outbox = join(gw.dataDir, 'outbox');
      const deadline = Date.now() + 10_000;
      let files: string[] = [];
      while (!files.some((f) => f.endsWith('.json'))) {
        if (Date.now() > deadline) throw new Error('no outbox file');
        files = await readdir(outbox).catch(() => []);
        await new Promise((r) => setTimeout(r, 50)); // the sandbox writes files asynchronously: poll, with a deadline
      }
      const entry = JSON.parse(
        await readFile(
          join(
            outbox,
            files.find((f) => f.endsWith('.json'))!,
          ),
          'utf8',
        ),
      ) as {
        request: { email: string; content: { subject: string } };
      };
      assert.equal(entry.request.email, 'someone@example.com');
      assert.equal(entry.request.content.subject, 'hello from swaks');
      assert.ok(
        files.some((f) => f.endsWith('.eml')),
        'a readable .eml beside it',
      );
    } finally {
      await gw.stop();
    }
  },
);
