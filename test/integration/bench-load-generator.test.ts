// The bench's load generator against the reference server (a real smtp-server process,
// TLS and AUTH, on port 0): messages per connection decide how many connections a run
// opens, and every message is counted once.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runLoad, type RunSpec } from '../../bench/load-generator.ts';
import { makeCertificate, startReference, type ServerTree } from '../../bench/servers.ts';

let dir = '';
let reference: ServerTree;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gw-loadgen-'));
  reference = await startReference(await makeCertificate(join(dir, 'tls')), 0);
});

after(async () => {
  await reference?.stop();
  await rm(dir, { recursive: true, force: true });
});

const spec = (over: Partial<RunSpec>): RunSpec => ({
  host: '127.0.0.1',
  port: reference.smtpPort,
  sources: [],
  user: 'demo@cakemail.test',
  pass: 'demo-password',
  from: 'demo@cakemail.test',
  sessions: 1,
  messagesPerConnection: 0,
  messageBytes: 2048,
  pdf: false,
  recipients: 1,
  maxMessages: 12,
  // Bounded by the message count; the duration is only a backstop.
  durationMs: 60_000,
  ratePerSec: 0,
  tag: 'loadgen-test',
  ...over,
});

for (const [perConnection, sessions, connections] of [
  [0, 2, 2], // reuse: one connection per session, whatever the count
  [1, 3, 12], // one message per new connection
  [4, 1, 3], // 12 messages, 4 per connection
  [5, 1, 3], // 5 + 5 + 2
] as const) {
  test(`${perConnection} message(s) per connection, ${sessions} session(s): ${connections} connections for 12 messages`, async () => {
    const r = await runLoad(spec({ messagesPerConnection: perConnection, sessions }));
    assert.deepEqual(r.errorSamples, []);
    assert.equal(r.messages, 12);
    assert.equal(r.latencyMs.length, 12);
    assert.equal(r.connections, connections);
    assert.equal(r.bannerMs.length, connections);
    assert.equal(r.timedOut, false);
  });
}
