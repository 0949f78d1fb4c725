// WORKER_ALLOCATOR: which malloc the SMTP workers get (jemalloc preloaded, or the system
// one), resolved once at start; checked in the real worker processes' memory maps.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveWorkerAllocator } from '../../src/primary/worker-allocator.ts';
import { listeningWorkerPids, startGateway, type RunningGateway } from '../helpers/gateway.ts';

test('resolve: system, auto without the library, jemalloc required, preloads kept', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'alloc-'));
  const lib = join(dir, 'libjemalloc.so.2');
  await writeFile(lib, '');
  const missing = [join(dir, 'none.so')];
  assert.deepEqual(resolveWorkerAllocator('system', { paths: [lib] }), { name: 'system', env: {} });
  assert.deepEqual(resolveWorkerAllocator('auto', { paths: missing }), { name: 'system', env: {} });
  assert.throws(
    () => resolveWorkerAllocator('jemalloc', { paths: missing }),
    /libjemalloc\.so\.2 is not installed/,
  );
  assert.deepEqual(resolveWorkerAllocator('auto', { paths: missing.concat(lib), inheritedPreload: '' }), {
    name: 'jemalloc',
    env: { LD_PRELOAD: lib },
  });
  assert.equal(
    resolveWorkerAllocator('jemalloc', { paths: [lib], inheritedPreload: '/opt/other.so' }).env.LD_PRELOAD,
    `${lib} /opt/other.so`,
  );
  assert.equal(
    resolveWorkerAllocator('jemalloc', { paths: [lib], inheritedPreload: `/opt/a.so:${lib}` }).env.LD_PRELOAD,
    `/opt/a.so:${lib}`,
    'not preloaded twice',
  );
});

async function workerMaps(gw: RunningGateway): Promise<string[]> {
  const pids = listeningWorkerPids(gw);
  assert.equal(pids.length, 2);
  return Promise.all(pids.map((pid) => readFile(`/proc/${pid}/maps`, 'utf8')));
}

for (const [choice, expected] of [
  ['auto', true],
  ['system', false],
] as const) {
  test(`WORKER_ALLOCATOR=${choice}: the workers ${expected ? 'run on' : 'do not load'} jemalloc`, async () => {
    // .ci/install-system-deps installs libjemalloc2: `auto` must find it.
    const gw = await startGateway({ env: { SMTP_WORKERS: '2', WORKER_ALLOCATOR: choice } });
    try {
      const announced = gw.lines.find((l) => l.event === 'workers.allocator');
      assert.equal(announced?.allocator, expected ? 'jemalloc' : 'system');
      for (const maps of await workerMaps(gw)) assert.equal(/libjemalloc\.so/.test(maps), expected);
    } finally {
      await gw.stop();
    }
  });
}
