// The primary's answers to worker requests (src/primary/worker-requests.ts), on a real
// ConnectionTable: a connection is counted only under a worker that can still give it back.
import assert from 'node:assert/strict';
import type { Worker } from 'node:cluster';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import type { ResponseMessage } from '../../src/ipc/messages.ts';
import { createLogger } from '../../src/log.ts';
import { ConnectionTable } from '../../src/primary/admission.ts';
import type { SharedStore } from '../../src/primary/pod-state/store.ts';
import type { LiveWorker } from '../../src/primary/supervisor.ts';
import { handleWorkerMessage, type PodStateDeps } from '../../src/primary/worker-requests.ts';

const flush = () => new Promise<void>((r) => setImmediate(r));

function setup() {
  const config = loadConfig({ AUTH_LOCKOUT_THRESHOLD: '5' });
  const table = new ConnectionTable({ maxPerPod: 10, maxPerIp: 1, isTrusted: () => false });
  const lockoutChecks: Array<(lockedOut: boolean) => void> = [];
  // A Redis-backed store: isLockedOut is answered when the test says so.
  const store = {
    isLockedOut: () => new Promise<boolean>((r) => lockoutChecks.push(r)),
  } as unknown as SharedStore;
  const deps: PodStateDeps = {
    config,
    table,
    store,
    isTrusted: () => false,
    peers: () => [],
    workerMetrics: () => {},
    log: createLogger({ level: 'silent', format: 'json', role: 'primary' }),
  };
  const worker = (id: number) => {
    const answers: ResponseMessage[] = [];
    let dead = false;
    const live = {
      worker: {
        id,
        isDead: () => dead,
        send: (m: ResponseMessage, _h?: unknown, _o?: unknown, cb?: (e: Error | null) => void) => {
          answers.push(m);
          cb?.(null);
          return true;
        },
      } as unknown as Worker,
      slot: 0,
      generation: id,
      retiring: false,
    } as unknown as LiveWorker;
    /** What the primary does when the worker exits (primary.ts: supervisor 'exit'). */
    const exit = () => {
      dead = true;
      table.releaseWorker(id);
    };
    return { live, answers, exit };
  };
  const open = (w: LiveWorker, id: number, ip: string) =>
    handleWorkerMessage(deps, w, { type: 'request', id, kind: 'connection.open', body: { ip } });
  return { table, lockoutChecks, worker, open };
}

test('connection.open: a worker that died while the store answered has nothing counted under it', async () => {
  const { table, lockoutChecks, worker, open } = setup();
  const dying = worker(1);
  open(dying.live, 1, '192.0.2.1');
  dying.exit(); // killed while Redis answers; its connections are released now
  lockoutChecks[0]!(false);
  await flush();
  assert.equal(table.total, 0, 'the pod count does not keep a dead worker’s connection');
  // The same client, on the replacement worker, is not refused for it (MAX_CONNECTIONS_PER_IP=1).
  const next = worker(2);
  open(next.live, 1, '192.0.2.1');
  lockoutChecks[1]!(false);
  await flush();
  assert.deepEqual(next.answers[0]?.body, { verdict: 'ok' });
  assert.equal(table.total, 1);
});

test('connection.open: a live worker is counted once the store answered', async () => {
  const { table, lockoutChecks, worker, open } = setup();
  const w = worker(1);
  open(w.live, 7, '192.0.2.2');
  assert.equal(table.total, 0, 'nothing counted before the store answered');
  lockoutChecks[0]!(false);
  await flush();
  assert.deepEqual(w.answers, [{ type: 'response', id: 7, ok: true, body: { verdict: 'ok' } }]);
  assert.equal(table.total, 1);
  w.exit();
  assert.equal(table.total, 0);
});
