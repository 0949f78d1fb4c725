// Pod-wide connection accounting with real processes: whatever way a connection ends, the
// primary's count (gateway_pod_connections) comes back to zero once the clients are gone.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { until } from '../helpers/sandbox.ts';

const podConnections = async (gw: RunningGateway) =>
  Number(/^gateway_pod_connections (\d+)$/m.exec((await gw.http('/metrics')).body)?.[1]);

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
    // The releases reach the primary in batches: wait for zero, then say what is left.
    await until(async () => (await podConnections(gw)) === 0, 'the pod count back at 0', 5_000).catch(
      () => undefined,
    );
    assert.equal(await podConnections(gw), 0, 'every counted admission was given back');
  } finally {
    await gw.stop();
  }
});
