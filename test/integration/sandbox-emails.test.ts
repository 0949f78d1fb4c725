import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  call,
  login,
  rawRequest,
  schemaErrors,
  startTestSandbox,
  validEmail,
  type TestSandbox,
} from './sandbox-helpers.ts';

interface Detail {
  loc?: Array<string | number>;
  msg: string;
  type: string;
}

const PDF_B64 = Buffer.from('%PDF-1.4 sandbox').toString('base64');

describe('sandbox POST /v2/emails', () => {
  let t: TestSandbox;
  let demo: string;
  let multi: string;
  before(async () => {
    t = await startTestSandbox({ writeOutbox: false, maxBodyBytes: 64 * 1024 });
    demo = (await login(t.sb)).access_token;
    multi = (await login(t.sb, 'multi@cakemail.test', 'multi-password')).access_token;
  });
  beforeEach(() => {
    t.sb.clearOutbox();
    t.sb.resetStats();
  });
  after(() => t.stop());

  const submit = (body: unknown, token = demo, query = '') =>
    call(t.sb, 'POST', `/v2/emails${query}`, { token, json: body });
  const details = (b: unknown) => (b as { detail: Detail[] }).detail;

  it('accepts a valid SubmitEmail: 201 SubmitEmailResponse, queued, in the outbox', async () => {
    const body = validEmail({
      tags: ['a', 'b-c_d'],
      tracking: { opens: false },
      additional_headers: [{ name: 'Reply-To', value: 'r@x.test' }],
    });
    const r = await submit(body);
    assert.equal(r.status, 201);
    assert.equal(schemaErrors('SubmitEmailResponse', r.body), null);
    const res = r.body as {
      email: string;
      object: string;
      submitted: boolean;
      data: { id: string; status: string };
    };
    assert.equal(res.email, 'rcpt@example.com');
    assert.equal(res.object, 'email');
    assert.equal(res.submitted, true);
    assert.equal(res.data.status, 'queued');
    assert.match(res.data.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const out = t.sb.outbox();
    assert.equal(out.length, 1);
    assert.equal(out[0]?.id, res.data.id);
    assert.equal(out[0]?.accountId, 1001);
    assert.equal(out[0]?.username, 'demo@cakemail.test');
    assert.deepEqual(out[0]?.request, body);
    assert.ok(Math.abs(Date.parse(out[0]?.receivedAt ?? '') - Date.now()) < 5000);
    assert.deepEqual(t.sb.stats(), {
      token: 0,
      refresh: 0,
      senders: 0,
      emails: 1,
      accepted: 1,
      rejectedInvalid: 0,
      faulted: 0,
    });
  });

  it('accepts one attachment or a list of them', async () => {
    const att = { filename: 'report-1.pdf', type: 'pdf', content: PDF_B64 };
    assert.equal((await submit(validEmail({ attachment: att }))).status, 201);
    assert.equal(
      (await submit(validEmail({ attachment: [att, { ...att, filename: 'x.png', type: 'png' }] }))).status,
      201,
    );
    assert.equal(t.sb.outbox().length, 2);
  });

  it('rejects an invalid SubmitEmail with a FastAPI 422 listing each problem', async () => {
    const r = await submit({
      email: 'not-an-address',
      sender: {},
      content: { subject: '', type: 'newsletter', text: 'x' },
      tags: ['bad tag'],
      attachment: { filename: 'virus.exe', type: 'exe', content: 'not base64!' },
    });
    assert.equal(r.status, 422);
    assert.equal(schemaErrors('HTTPValidationError', r.body), null);
    const d = details(r.body);
    const byLoc = new Map(d.map((x) => [JSON.stringify(x.loc), x.type]));
    assert.equal(byLoc.get('["body","email"]'), 'value_error.email');
    assert.equal(byLoc.get('["body","sender","id"]'), 'value_error.missing');
    assert.equal(byLoc.get('["body","content","subject"]'), 'value_error.any_str.min_length');
    assert.equal(byLoc.get('["body","content","type"]'), 'type_error.enum');
    assert.equal(byLoc.get('["body","tags",0]'), 'value_error.str.regex');
    assert.equal(byLoc.get('["body","attachment","filename"]'), 'value_error.str.regex');
    assert.equal(byLoc.get('["body","attachment","content"]'), 'value_error.str.regex');
    for (const x of d) assert.ok(x.msg.length > 0);
    assert.equal(t.sb.outbox().length, 0);
    assert.equal(t.sb.stats().rejectedInvalid, 1);
  });

  it('422 for a missing content or sender, a missing recipient, no body part, marketing without list_id', async () => {
    let r = await submit({ email: 'a@b.test' });
    assert.equal(r.status, 422);
    assert.deepEqual(details(r.body), [
      { loc: ['body', 'sender'], msg: 'field required', type: 'value_error.missing' },
      { loc: ['body', 'content'], msg: 'field required', type: 'value_error.missing' },
    ]);
    const { email: _omit, ...noRecipient } = validEmail();
    r = await submit(noRecipient);
    assert.equal(r.status, 422);
    assert.deepEqual(details(r.body), [
      { loc: ['body', 'email'], msg: 'field required', type: 'value_error.missing' },
    ]);
    r = await submit(validEmail({ content: { subject: 's', type: 'transactional' } }));
    assert.equal(r.status, 422);
    assert.deepEqual(details(r.body)[0]?.loc, ['body', 'content']);
    r = await submit(validEmail({ content: { subject: 's', type: 'marketing', text: 't' } }));
    assert.equal(r.status, 422);
    assert.deepEqual(details(r.body)[0]?.loc, ['body', 'list_id']);
    r = await submit(validEmail({ content: { subject: 's', type: 'marketing', text: 't' }, list_id: 7 }));
    assert.equal(r.status, 201);
  });

  it('400 for a body that is not JSON (or not an object)', async () => {
    const r = await call(t.sb, 'POST', '/v2/emails', { token: demo, raw: '{"email":' });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, { detail: [{ msg: 'Request body is not valid JSON', type: 'bad_request' }] });
    const arr = await call(t.sb, 'POST', '/v2/emails', { token: demo, raw: '[1,2]' });
    assert.equal(arr.status, 422);
  });

  it('400 for an unconfirmed, unknown or other-account sender; for cc/bcc headers', async () => {
    for (const id of ['snd-1001-pending', 'snd-nope', 'snd-2002-other']) {
      const r = await submit(validEmail({ sender: { id } }));
      assert.equal(r.status, 400, id);
      assert.equal(schemaErrors('HTTPBadRequestError', r.body), null);
      const d = details(r.body)[0];
      assert.deepEqual(d?.loc, ['body', 'sender', 'id']);
      assert.equal(d?.type, 'bad_request');
      assert.match(d?.msg ?? '', id === 'snd-1001-pending' ? /not confirmed/ : /not found/);
    }
    const r = await submit(validEmail({ additional_headers: [{ name: 'Bcc', value: 'spy@x.test' }] }));
    assert.equal(r.status, 400);
    assert.equal(t.sb.outbox().length, 0);
    assert.equal(t.sb.stats().rejectedInvalid, 4);
  });

  it('account_id: another of the token’s accounts works; a foreign one is 403; a bad one 422', async () => {
    let r = await submit(validEmail({ sender: { id: 'snd-2002-other' } }), multi, '?account_id=2002');
    assert.equal(r.status, 201);
    assert.equal(t.sb.outbox()[0]?.accountId, 2002);
    assert.equal(t.sb.outbox()[0]?.username, 'multi@cakemail.test');
    r = await submit(validEmail(), demo, '?account_id=2002');
    assert.equal(r.status, 403);
    assert.equal(schemaErrors('HTTPForbiddenError', r.body), null);
    r = await submit(validEmail(), demo, '?account_id=0');
    assert.equal(r.status, 422);
    assert.deepEqual(details(r.body)[0]?.loc, ['query', 'account_id']);
  });

  it('401 without token (string detail), with a garbage token, or a refresh token', async () => {
    let r = await call(t.sb, 'POST', '/v2/emails', { json: validEmail() });
    assert.equal(r.status, 401);
    assert.deepEqual(r.body, { detail: 'Not authenticated' });
    r = await submit(validEmail(), 'garbage');
    assert.equal(r.status, 401);
    assert.equal(details(r.body)[0]?.type, 'unauthorized');
    const refresh = (await login(t.sb)).refresh_token;
    r = await submit(validEmail(), refresh);
    assert.equal(r.status, 401);
    assert.equal(t.sb.outbox().length, 0);
  });

  it('413 for a body over the cap, declared or streamed; the server keeps serving', async () => {
    const declared = await rawRequest(t.sb.url, {
      method: 'POST',
      path: '/v2/emails',
      headers: {
        authorization: `Bearer ${demo}`,
        'content-type': 'application/json',
        'content-length': 41 * 1024 * 1024,
      },
    });
    assert.ok('status' in declared && declared.status === 413, JSON.stringify(declared));
    assert.deepEqual(JSON.parse(declared.body), {
      detail: [{ msg: 'Request body too large', type: 'request_entity_too_large' }],
    });
    const big = JSON.stringify(
      validEmail({ content: { subject: 's', type: 'transactional', text: 'x'.repeat(100_000) } }),
    );
    const streamed = await rawRequest(t.sb.url, {
      method: 'POST',
      path: '/v2/emails',
      headers: {
        authorization: `Bearer ${demo}`,
        'content-type': 'application/json',
        'transfer-encoding': 'chunked',
      },
      body: big,
    });
    assert.ok('dropped' in streamed || streamed.status === 413, JSON.stringify(streamed));
    assert.equal((await submit(validEmail())).status, 201);
  });

  it('404 for unknown paths, 405 for a wrong method', async () => {
    let r = await call(t.sb, 'GET', '/v1/emails');
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, { detail: 'Not Found' });
    r = await call(t.sb, 'GET', '/v2/emails', { token: demo });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'POST');
  });

  it('survives garbage on the wire and keeps answering', async () => {
    const { connect } = await import('node:net');
    const answer = await new Promise<string>((resolve) => {
      const s = connect(t.sb.port, '127.0.0.1', () => s.write('NOT HTTP AT ALL\r\n\r\n'));
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
    });
    assert.match(answer, /^HTTP\/1\.1 400/);
    assert.equal((await submit(validEmail())).status, 201);
  });

  it('handles many concurrent submissions over keep-alive', async () => {
    const n = 300;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => submit(validEmail({ email: `r${i}@example.com` }))),
    );
    assert.ok(results.every((r) => r.status === 201));
    const ids = new Set(results.map((r) => (r.body as { data: { id: string } }).data.id));
    assert.equal(ids.size, n);
    assert.equal(t.sb.outbox().length, n);
    assert.equal(t.sb.stats().accepted, n);
  });
});
