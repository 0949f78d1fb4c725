import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import { call, login, startTestSandbox, validEmail, type TestSandbox } from './sandbox-helpers.ts';

describe('sandbox outbox files', () => {
  let t: TestSandbox;
  let token: string;
  before(async () => {
    t = await startTestSandbox();
    token = (await login(t.sb)).access_token;
  });
  after(() => t.stop());

  it('writes <id>.json (request, account, time) and a readable <id>.eml', async () => {
    const body = validEmail({
      email: 'zoe@example.com',
      sender: { id: 'snd-1001-news', name: 'Newsletter Ünïcode' },
      content: {
        subject: 'Grüße aus dem Sandkasten',
        text: 'Line one\nLine two ✓',
        html: '<p>Hallo <b>Welt</b></p>',
        type: 'transactional',
        encoding: 'utf-8',
      },
      tags: ['welcome'],
      additional_headers: [{ name: 'Reply-To', value: 'reply@cakemail.test' }],
      attachment: {
        filename: 'invoice-7.pdf',
        type: 'pdf',
        content: Buffer.from('%PDF-1.4 hi').toString('base64'),
      },
    });
    const r = await call(t.sb, 'POST', '/v2/emails', { token, json: body });
    assert.equal(r.status, 201);
    const id = (r.body as { data: { id: string } }).data.id;
    await t.sb.flushOutbox();
    const dir = join(t.dataDir, 'outbox');
    assert.deepEqual((await readdir(dir)).sort(), [`${id}.eml`, `${id}.json`]);

    const rec = JSON.parse(await readFile(join(dir, `${id}.json`), 'utf8')) as Record<string, unknown>;
    assert.equal(rec.id, id);
    assert.equal(rec.accountId, 1001);
    assert.equal(rec.username, 'demo@cakemail.test');
    assert.deepEqual(rec.request, body);
    assert.deepEqual(rec.sender, {
      id: 'snd-1001-news',
      name: 'Demo Newsletter',
      email: 'news@cakemail.test',
    });
    assert.ok(Math.abs(Date.parse(String(rec.receivedAt)) - Date.now()) < 10_000);

    const eml = await readFile(join(dir, `${id}.eml`));
    const parsed = await simpleParser(eml);
    assert.equal(parsed.subject, 'Grüße aus dem Sandkasten');
    assert.equal(parsed.from?.value[0]?.address, 'news@cakemail.test');
    assert.equal(parsed.from?.value[0]?.name, 'Newsletter Ünïcode');
    const to = Array.isArray(parsed.to) ? parsed.to[0] : parsed.to;
    assert.equal(to?.value[0]?.address, 'zoe@example.com');
    assert.equal(parsed.text?.trim(), 'Line one\nLine two ✓');
    assert.equal(parsed.html, '<p>Hallo <b>Welt</b></p>');
    assert.equal(parsed.headers.get('reply-to') !== undefined, true);
    assert.equal(parsed.headers.get('x-sandbox-account-id'), '1001');
    assert.equal(parsed.attachments.length, 1);
    assert.equal(parsed.attachments[0]?.filename, 'invoice-7.pdf');
    assert.equal(parsed.attachments[0]?.contentType, 'application/pdf');
    assert.equal(parsed.attachments[0]?.content.toString(), '%PDF-1.4 hi');
    // The raw file stays readable for a person: the text body is not encoded.
    assert.match(eml.toString('utf8'), /Line two ✓/);
  });

  it('writes every email of a burst', async () => {
    const n = 120;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        call(t.sb, 'POST', '/v2/emails', { token, json: validEmail({ email: `b${i}@example.com` }) }),
      ),
    );
    assert.ok(results.every((r) => r.status === 201));
    await t.sb.flushOutbox();
    const files = await readdir(join(t.dataDir, 'outbox'));
    for (const r of results) {
      const id = (r.body as { data: { id: string } }).data.id;
      assert.ok(files.includes(`${id}.json`) && files.includes(`${id}.eml`), id);
    }
  });
});

describe('sandbox outbox in memory and over HTTP', () => {
  let t: TestSandbox;
  let token: string;
  before(async () => {
    t = await startTestSandbox({ writeOutbox: false, outboxMemoryEntries: 3 });
    token = (await login(t.sb)).access_token;
  });
  after(() => t.stop());

  it('writes no file when writeOutbox is false', () => {
    assert.equal(existsSync(join(t.dataDir, 'outbox')), false);
  });

  it('keeps the last N entries in arrival order; GET/DELETE /__sandbox/outbox; stats over HTTP', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await call(t.sb, 'POST', '/v2/emails', {
        token,
        json: validEmail({ email: `m${i}@example.com` }),
      });
      assert.equal(r.status, 201);
    }
    const list = t.sb.outbox();
    assert.deepEqual(
      list.map((e) => (e.request as { email: string }).email),
      ['m2@example.com', 'm3@example.com', 'm4@example.com'],
    );
    let r = await call(t.sb, 'GET', '/__sandbox/outbox');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, list);
    r = await call(t.sb, 'GET', '/__sandbox/outbox?since=2');
    assert.deepEqual(r.body, list.slice(2));
    r = await call(t.sb, 'GET', '/__sandbox/stats');
    assert.deepEqual(r.body, {
      token: 1,
      refresh: 0,
      senders: 0,
      emails: 5,
      accepted: 5,
      rejectedInvalid: 0,
      faulted: 0,
    });
    r = await call(t.sb, 'DELETE', '/__sandbox/outbox');
    assert.equal(r.status, 200);
    assert.deepEqual(t.sb.outbox(), []);
    r = await call(t.sb, 'DELETE', '/__sandbox/stats');
    assert.deepEqual(r.body, {
      token: 0,
      refresh: 0,
      senders: 0,
      emails: 0,
      accepted: 0,
      rejectedInvalid: 0,
      faulted: 0,
    });
    assert.deepEqual((await call(t.sb, 'GET', '/__sandbox/health')).body, { ok: true });
    assert.equal((await call(t.sb, 'POST', '/__sandbox/stats')).status, 405);
    assert.equal((await call(t.sb, 'GET', '/__sandbox/nope')).status, 404);
  });
});
