// The README's reply and config tables are generated from the code and must be current.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { renderBlocks } from '../../src/docs/readme-tables.ts';
import { REPLIES } from '../../src/smtp/replies.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

test('README tables match src/smtp/replies.ts and src/config/schema.ts (run `npm run docs`)', () => {
  assert.equal(readme, renderBlocks(readme));
});

test('docs/operations.md reply and metric tables are current (run `npm run docs`)', () => {
  const ops = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
  assert.match(ops, /<!-- generated:metrics -->\n\| metric/);
  assert.match(ops, /smtp_connections_total/);
  assert.equal(ops, renderBlocks(ops));
});

test('every reply has a 2xx/4xx/5xx code whose class matches its enhanced code', () => {
  for (const [key, r] of Object.entries(REPLIES)) {
    assert.equal(String(r.code)[0], r.enhanced[0], key);
    assert.match(r.enhanced, /^[245]\.\d{1,3}\.\d{1,3}$/, key);
  }
});
