// Pod-wide connection accounting with real processes: whatever way a connection ends, the
// primary's count (gateway_pod_connections) comes back to zero once the clients are gone.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';

const podConnections = async (gw: RunningGateway) =>
  Number(/^gateway_pod_connections (\d+)$/m.exec((await gw.http('/metrics')).body)?.[1]);

/** Polls the primary's count until it is `want`; the last value seen when it never is. */
async function podConnectionsReach(gw: RunningGateway, want: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let seen = await podConnections(gw);
  while (seen !== want && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    seen = await podConnections(gw);
  }
  return seen;
}

test('connections reset at once (before the worker reads their address) leave nothing counted', async () => {
  const gw = await startGateway({ env: { SMTP_WORKERS: '1' } });
  try {
    for (let round = 0; round < 5; round++)
      await Promise.all(
        Array.from(
          { length: 100 },
          () =>
            new Promise<void>((resolve) => {
              const s = connect(gw.smtpPort, '127.0.0.1', () => {
                s.resetAndDestroy();
                resolve();
              });
              s.on('error', () => resolve());
            }),
        ),
      );
    assert.equal(await podConnectionsReach(gw, 0, 5_000), 0, 'every counted admission was given back');
  } finally {
    await gw.stop();
  }
});
