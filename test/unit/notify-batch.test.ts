// Notifications to the primary sent in batches (connection releases, ledger records).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { NotifyBatch } from '../../src/ipc/notify-batch.ts';
import type { WorkerToPrimary } from '../../src/ipc/messages.ts';

test('notify batch: closes within the window leave in one notification, in order', async () => {
  const sent = new EventEmitter();
  const messages: WorkerToPrimary[] = [];
  const batch = new NotifyBatch<string>((ips) => {
    messages.push({ type: 'connection.closed', ips });
    sent.emit('sent');
  }, 1);
  batch.add('10.0.0.1');
  batch.add('10.0.0.2');
  batch.add('10.0.0.1');
  assert.deepEqual(messages, [], 'nothing before the timer');
  await once(sent, 'sent');
  assert.deepEqual(messages, [{ type: 'connection.closed', ips: ['10.0.0.1', '10.0.0.2', '10.0.0.1'] }]);
  batch.add('10.0.0.3');
  await once(sent, 'sent');
  assert.equal(messages.length, 2, 'a later close starts a new batch');
});

test('notify batch: flush sends at once and leaves nothing for the timer', () => {
  const messages: WorkerToPrimary[] = [];
  const batch = new NotifyBatch<string>((ips) => messages.push({ type: 'connection.closed', ips }), 60_000);
  batch.flush();
  assert.deepEqual(messages, [], 'an empty batch sends nothing');
  batch.add('10.0.0.9');
  batch.flush();
  batch.flush();
  assert.deepEqual(messages, [{ type: 'connection.closed', ips: ['10.0.0.9'] }]);
});
