import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { FaultState, parseFaultSpec } from '../../src/sandbox/faults.ts';
import {
  call,
  login,
  rawRequest,
  startTestSandbox,
  validEmail,
  type TestSandbox,
} from './sandbox-helpers.ts';

describe('sandbox fault injection', () => {
  let t: TestSandbox;
  let token: string;
  before(async () => {
    t = await startTestSandbox({ writeOutbox: false });
    token = (await login(t.sb)).access_token;
  });
  beforeEach(() => {
    t.sb.setFaults(null);
    t.sb.clearOutbox();
    t.sb.resetStats();
  });
  after(() => t.stop());

  const submit = () => call(t.sb, 'POST', '/v2/emails', { token, json: validEmail() });
  const rawSubmit = () =>
    rawRequest(t.sb.url, {
      method: 'POST',
      path: '/v2/emails',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(validEmail()),
    });

  it('status answers that status instead of the real answer and accepts nothing', async () => {
    t.sb.setFaults({ status: 503, endpoints: ['emails'] });
    const r = await submit();
    assert.equal(r.status, 503);
    assert.deepEqual(r.body, { detail: 'Service Unavailable' });
    t.sb.setFaults({ status: 429 });
    const r429 = await submit();
    assert.equal(r429.status, 429);
    assert.deepEqual(r429.body, { detail: [{ msg: 'Too Many Requests', type: 'too_many_requests' }] });
    assert.equal(r429.headers.get('retry-after'), null);
    assert.equal(t.sb.outbox().length, 0);
    assert.deepEqual(t.sb.stats(), {
      token: 0,
      refresh: 0,
      senders: 0,
      emails: 2,
      accepted: 0,
      rejectedInvalid: 0,
      faulted: 2,
    });
  });

  it('endpoints limits where a fault applies', async () => {
    t.sb.setFaults({ status: 500, endpoints: ['token'] });
    const tok = await call(t.sb, 'POST', '/token', {
      form: { username: 'demo@cakemail.test', password: 'demo-password' },
    });
    assert.equal(tok.status, 500);
    assert.equal((await submit()).status, 201);
    assert.equal((await call(t.sb, 'GET', '/brands/default/senders', { token })).status, 200);
  });

  it('remaining applies to the next N matching requests, then clears itself', async () => {
    t.sb.setFaults({ status: 500, remaining: 2, endpoints: ['emails'] });
    assert.equal((await call(t.sb, 'GET', '/brands/default/senders', { token })).status, 200);
    assert.equal((await submit()).status, 500);
    assert.deepEqual(t.sb.getFaults(), { status: 500, remaining: 1, endpoints: ['emails'] });
    assert.equal((await submit()).status, 500);
    assert.equal(t.sb.getFaults(), null);
    assert.equal((await submit()).status, 201);
    assert.equal(t.sb.outbox().length, 1);
  });

  it('errorRate 0 never faults; errorRate alone means 500', async () => {
    t.sb.setFaults({ status: 503, errorRate: 0 });
    for (let i = 0; i < 5; i++) assert.equal((await submit()).status, 201);
    t.sb.setFaults({ errorRate: 1, endpoints: ['emails'] });
    assert.equal((await submit()).status, 500);
  });

  it('latencyMs delays the answer', async () => {
    t.sb.setFaults({ latencyMs: 400, endpoints: ['emails'] });
    const start = performance.now();
    const r = await submit();
    const took = performance.now() - start;
    assert.equal(r.status, 201);
    assert.ok(took >= 395, `took ${took} ms`);
    t.sb.setFaults(null);
    const s2 = performance.now();
    await submit();
    assert.ok(performance.now() - s2 < 395);
  });

  it('dropAfterRequest accepts the email then closes without answering (ambiguous)', async () => {
    t.sb.setFaults({ dropAfterRequest: true, endpoints: ['emails'], remaining: 1 });
    const r = await rawSubmit();
    assert.ok('dropped' in r, JSON.stringify(r));
    assert.equal(t.sb.outbox().length, 1);
    assert.equal(t.sb.outbox()[0]?.username, 'demo@cakemail.test');
    assert.deepEqual(t.sb.stats(), {
      token: 0,
      refresh: 0,
      senders: 0,
      emails: 1,
      accepted: 1,
      rejectedInvalid: 0,
      faulted: 1,
    });
    assert.equal((await submit()).status, 201);
  });

  it('dropBeforeRequest closes the connection and accepts nothing', async () => {
    t.sb.setFaults({ dropBeforeRequest: true, endpoints: ['emails'] });
    const r = await rawSubmit();
    assert.ok('dropped' in r, JSON.stringify(r));
    await assert.rejects(submit());
    assert.equal(t.sb.outbox().length, 0);
    assert.equal(t.sb.stats().accepted, 0);
    assert.equal(t.sb.stats().faulted, 2);
  });

  it('submitStatus answers 201 with that status and keeps it out of the outbox', async () => {
    t.sb.setFaults({ submitStatus: 'rejected', remaining: 1 });
    // A submitStatus-only spec ignores token and senders calls: remaining is not used up by them.
    await login(t.sb);
    const r = await submit();
    assert.equal(r.status, 201);
    const b = r.body as { submitted: boolean; data: { status: string } };
    assert.equal(b.data.status, 'rejected');
    assert.equal(t.sb.outbox().length, 0);
    t.sb.setFaults({ submitStatus: 'error' });
    assert.equal(((await submit()).body as { data: { status: string } }).data.status, 'error');
    // Validation still comes first.
    const bad = await call(t.sb, 'POST', '/v2/emails', { token, json: { email: 'x@y.test' } });
    assert.equal(bad.status, 422);
  });

  it('is controllable over HTTP: PUT, GET, DELETE /__sandbox/faults', async () => {
    let r = await call(t.sb, 'PUT', '/__sandbox/faults', { json: { status: 502, endpoints: ['emails'] } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { status: 502, endpoints: ['emails'] });
    assert.equal((await submit()).status, 502);
    r = await call(t.sb, 'GET', '/__sandbox/faults');
    assert.deepEqual(r.body, { status: 502, endpoints: ['emails'] });
    r = await call(t.sb, 'DELETE', '/__sandbox/faults');
    assert.equal(r.status, 200);
    assert.equal((await call(t.sb, 'GET', '/__sandbox/faults')).body, null);
    assert.equal((await submit()).status, 201);
    r = await call(t.sb, 'PUT', '/__sandbox/faults', { json: { statsu: 500 } });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, { error: 'unknown fault field "statsu"' });
    r = await call(t.sb, 'PUT', '/__sandbox/faults', { raw: '{not json' });
    assert.equal(r.status, 400);
    assert.equal((await call(t.sb, 'GET', '/__sandbox/faults')).body, null);
  });

  it('control requests are never faulted', async () => {
    t.sb.setFaults({ status: 500, dropBeforeRequest: true });
    const r = await call(t.sb, 'GET', '/__sandbox/stats');
    assert.equal(r.status, 200);
  });
});

describe('fault spec rules', () => {
  it('rejects invalid specs with a readable message', () => {
    assert.throws(() => parseFaultSpec([]), /JSON object/);
    assert.throws(() => parseFaultSpec({ status: 200 }), /status must be an integer in \[400, 599\]/);
    assert.throws(() => parseFaultSpec({ errorRate: 2 }), /errorRate/);
    assert.throws(() => parseFaultSpec({ endpoints: ['smtp'] }), /endpoints/);
    assert.throws(() => parseFaultSpec({ submitStatus: 'queued' }), /submitStatus/);
    assert.throws(() => parseFaultSpec({ remaining: 0 }), /remaining/);
    assert.throws(() => parseFaultSpec({ dropAfterRequest: 'yes' }), /boolean/);
  });

  it('errorRate rolls per request and remaining counts every matching request', () => {
    const rolls = [0.1, 0.9, 0.4, 0.6];
    const f = new FaultState(() => rolls.shift() ?? 0);
    f.set({ status: 503, errorRate: 0.5, remaining: 4 });
    const kinds = [1, 2, 3, 4].map(() => f.decide('emails')?.action.kind);
    assert.deepEqual(kinds, ['status', 'none', 'status', 'none']);
    assert.equal(f.decide('emails'), null);
  });

  it('picks dropBefore over status over dropAfter over submitStatus', () => {
    const f = new FaultState(() => 0);
    f.set({ dropBeforeRequest: true, status: 500, dropAfterRequest: true, submitStatus: 'error' });
    assert.deepEqual(f.decide('emails')?.action, { kind: 'dropBefore' });
    f.set({ status: 500, dropAfterRequest: true, submitStatus: 'error' });
    assert.deepEqual(f.decide('emails')?.action, { kind: 'status', status: 500 });
    f.set({ dropAfterRequest: true, submitStatus: 'error' });
    assert.deepEqual(f.decide('emails')?.action, { kind: 'dropAfter' });
    f.set({ submitStatus: 'error', latencyMs: 5 });
    assert.deepEqual(f.decide('emails'), { latencyMs: 5, action: { kind: 'submitStatus', status: 'error' } });
    assert.deepEqual(f.decide('token'), { latencyMs: 5, action: { kind: 'none' } });
  });
});
