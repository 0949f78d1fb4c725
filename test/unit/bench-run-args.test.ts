// The bench's command line: the load options make a custom scenario, and mistakes are
// refused before a run starts (a 25-minute run must not die on a typo at its end).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALL, parseArgs } from '../../bench/run-args.ts';
import { customScenario, parseBytes, scenarios } from '../../bench/scenarios.ts';

test('no options: every scenario but custom', () => {
  const o = parseArgs([]);
  assert.deepEqual(o.selected, ALL);
  assert.ok(!o.selected.includes('custom'));
  assert.deepEqual(o.custom, {});
});

test('a load option implies --scenario custom and sets only what it names', () => {
  const o = parseArgs(['--sessions', '200', '--per-connection', '10', '--bytes', '10k', '--duration', '20']);
  assert.deepEqual(o.selected, ['custom']);
  assert.deepEqual(o.custom, {
    sessions: 200,
    messagesPerConnection: 10,
    messageBytes: 10 * 1024,
    durationMs: 20_000,
  });
  const s = customScenario(o.custom, false);
  const a = scenarios(false).find((x) => x.id === 'a')!;
  assert.equal(s.id, 'custom');
  assert.equal(s.title, 'custom: 200 sessions, 10 messages per connection, 10 KB, 1 recipient');
  assert.deepEqual(s.load, {
    ...a.load,
    sessions: 200,
    messagesPerConnection: 10,
    messageBytes: 10 * 1024,
    durationMs: 20_000,
  });
  assert.ok(s.capMs > s.load.durationMs);
});

test('custom titles name one message per connection, attachments, recipients and pacing', () => {
  const s = customScenario(
    { messagesPerConnection: 1, messageBytes: 1024 * 1024, pdf: true, recipients: 3, ratePerSec: 100 },
    true,
  );
  assert.equal(
    s.title,
    'custom: 50 sessions, one message per new connection, 1 MB with a PDF attachment, 3 recipients, paced at 100 msg/s',
  );
  assert.equal(s.halfRatePhase, false);
  assert.equal(customScenario({}, true).halfRatePhase, true);
  const resumed = parseArgs(['--per-connection', '1', '--sessions', '500', '--resume']);
  assert.deepEqual(resumed.custom, { messagesPerConnection: 1, sessions: 500, resumeTls: true });
  assert.equal(
    customScenario(resumed.custom, false).title,
    'custom: 500 sessions, one message per new connection, 5 KB, 1 recipient, TLS sessions resumed',
  );
});

test('load options beside other scenarios are refused, as are bad values', () => {
  assert.deepEqual(parseArgs(['--scenario', 'a,custom', '--recipients', '5']).selected, ['a', 'custom']);
  assert.throws(() => parseArgs(['--scenario', 'a', '--recipients', '5']), /--scenario custom only/);
  assert.throws(() => parseArgs(['--sessions', '0']), /--sessions needs a whole number of at least 1/);
  assert.throws(() => parseArgs(['--per-connection', '1.5']), /--per-connection needs a whole number/);
  assert.throws(() => parseArgs(['--pdf', '--bytes', '2k']), /--pdf needs --bytes of at least 4k/);
  assert.throws(() => parseArgs(['--duration']), /--duration needs a value/);
  assert.throws(() => parseArgs(['--scenario', 'z']), /unknown scenario\(s\) z/);
});

test('parseBytes: plain counts and k/m suffixes, 1024-based', () => {
  assert.equal(parseBytes('5120'), 5120);
  assert.equal(parseBytes('5k'), 5120);
  assert.equal(parseBytes('5KB'), 5120);
  assert.equal(parseBytes('1.5m'), 1.5 * 1024 * 1024);
  assert.throws(() => parseBytes('five'), /not a size/);
  assert.throws(() => parseBytes('100'), /at least 512/);
});
