// The SMTP client of the bench and the fault suite: a greeting that never comes gives up
// (the fault suite's sessions must not wait forever on a connection nobody serves).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { SmtpConnection } from '../../bench/smtp-client.ts';

test(
  'open(): no greeting within bannerTimeoutMs → rejects and the socket is gone',
  { timeout: 10_000 },
  async (t) => {
    const held: Socket[] = [];
    const server = createServer((s) => held.push(s)); // accepts, never greets
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => {
      for (const s of held) s.destroy();
      server.close();
    });
    const port = (server.address() as { port: number }).port;
    await assert.rejects(
      SmtpConnection.open({ host: '127.0.0.1', port, bannerTimeoutMs: 100 }),
      /connection closed/,
    );
    const [peer] = held;
    if (peer && !peer.closed) await once(peer, 'close');
    assert.equal(held.length, 1);
  },
);

test('open(): a greeting in time resolves as before', async (t) => {
  const server = createServer((s) => s.end('220 ready\r\n'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const port = (server.address() as { port: number }).port;
  const conn = await SmtpConnection.open({ host: '127.0.0.1', port, bannerTimeoutMs: 10_000 });
  conn.destroy();
});
