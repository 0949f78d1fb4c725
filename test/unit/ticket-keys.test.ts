// The primary's TLS session ticket keys: 48 random bytes, replaced every period, each
// replacement handed on (to the supervisor, which sends it to every worker).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSecureContext } from 'node:tls';
import {
  TICKET_KEY_BYTES,
  TICKET_KEY_PERIOD_MS,
  TicketKeyRotation,
  newTicketKeys,
} from '../../src/primary/ticket-keys.ts';

test('ticket keys are 48 fresh bytes that a TLS context accepts', () => {
  const a = Buffer.from(newTicketKeys(), 'base64');
  const b = Buffer.from(newTicketKeys(), 'base64');
  assert.equal(a.length, TICKET_KEY_BYTES);
  assert.notDeepEqual(a, b);
  const context = createSecureContext({ ticketKeys: a });
  assert.deepEqual(context.context.getTicketKeys(), a);
});

test('rotation: new keys every period, each handed on once; none before start or after stop', (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const handed: string[] = [];
  const rotation = new TicketKeyRotation((keys) => handed.push(keys));
  const initial = rotation.current;
  t.mock.timers.tick(TICKET_KEY_PERIOD_MS * 3);
  assert.deepEqual(handed, [], 'not started');
  rotation.start();
  t.mock.timers.tick(TICKET_KEY_PERIOD_MS - 1);
  assert.deepEqual(handed, []);
  assert.equal(rotation.current, initial);
  t.mock.timers.tick(1);
  assert.equal(handed.length, 1);
  assert.notEqual(handed[0], initial);
  assert.equal(rotation.current, handed[0]);
  t.mock.timers.tick(TICKET_KEY_PERIOD_MS);
  assert.equal(handed.length, 2);
  assert.equal(new Set([initial, ...handed]).size, 3);
  rotation.stop();
  t.mock.timers.tick(TICKET_KEY_PERIOD_MS * 3);
  assert.equal(handed.length, 2);
});
