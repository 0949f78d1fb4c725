// The V8 settings the primary starts its workers with (WORKER_SEMI_SPACE_MB,
// WORKER_HEAP_GROWING_PERCENT, WORKER_INITIAL_OLD_SPACE_MB), read back from the real worker processes;
// the primary's own flag (src/primary/node-flags.ts) is not passed down.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { join } from 'node:path';
import { PRIMARY_NODE_FLAGS } from '../../src/primary/node-flags.ts';
import { listeningWorkerPids, REPO, startGateway, type RunningGateway } from '../helpers/gateway.ts';

async function workerArgs(gw: RunningGateway): Promise<string[][]> {
  const pids = listeningWorkerPids(gw);
  assert.equal(pids.length, 2);
  return Promise.all(
    pids.map(async (pid) => (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean)),
  );
}

test('workers get the configured young generation, heap growing factor and starting old generation', async () => {
  const gw = await startGateway({
    env: { WORKER_SEMI_SPACE_MB: '6', WORKER_HEAP_GROWING_PERCENT: '25', WORKER_INITIAL_OLD_SPACE_MB: '112' },
  });
  try {
    for (const args of await workerArgs(gw)) {
      assert.ok(args.includes('--max-semi-space-size=6'), args.join(' '));
      assert.ok(args.includes('--heap-growing-percent=25'), args.join(' '));
      assert.ok(args.includes('--initial-old-space-size=112'), args.join(' '));
    }
  } finally {
    await gw.stop();
  }
});

test('0 leaves all three to V8', async () => {
  const gw = await startGateway({
    env: { WORKER_SEMI_SPACE_MB: '0', WORKER_HEAP_GROWING_PERCENT: '0', WORKER_INITIAL_OLD_SPACE_MB: '0' },
  });
  try {
    for (const args of await workerArgs(gw))
      assert.ok(!args.some((a) => /semi-space|heap-growing|old-space/.test(a)), args.join(' '));
  } finally {
    await gw.stop();
  }
});

test("started as every launcher starts it, the primary's young-generation flag stays the primary's", async () => {
  const gw = await startGateway({
    command: [process.execPath, ...PRIMARY_NODE_FLAGS, join(REPO, 'src/main.ts')],
    env: { WORKER_SEMI_SPACE_MB: '0' },
  });
  try {
    const primary = (await readFile(`/proc/${gw.proc.pid}/cmdline`, 'utf8')).split('\0');
    for (const flag of PRIMARY_NODE_FLAGS) assert.ok(primary.includes(flag), primary.join(' '));
    for (const args of await workerArgs(gw))
      assert.ok(!args.some((a) => /semi-space/.test(a)), args.join(' '));
  } finally {
    await gw.stop();
  }
});
