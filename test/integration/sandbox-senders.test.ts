import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, login, schemaErrors, startTestSandbox, type TestSandbox } from './sandbox-helpers.ts';

interface SendersBody {
  pagination: { page: number; per_page: number; count?: number };
  data: Array<{ id: string; name: string; email: string; confirmed: boolean }>;
}

describe('sandbox GET /brands/default/senders', () => {
  let t: TestSandbox;
  let demo: string;
  let many: string;
  let multi: string;
  before(async () => {
    t = await startTestSandbox({ writeOutbox: false });
    demo = (await login(t.sb)).access_token;
    many = (await login(t.sb, 'many@cakemail.test', 'many-password')).access_token;
    multi = (await login(t.sb, 'multi@cakemail.test', 'multi-password')).access_token;
  });
  after(() => t.stop());

  it('lists the account senders with their confirmation state (SendersResponse)', async () => {
    const r = await call(t.sb, 'GET', '/brands/default/senders', { token: demo });
    assert.equal(r.status, 200);
    assert.equal(schemaErrors('SendersResponse', r.body), null);
    const b = r.body as SendersBody;
    assert.deepEqual(b.pagination, { page: 1, per_page: 50 });
    assert.deepEqual(
      b.data.map((s) => [s.id, s.email, s.confirmed]),
      [
        ['snd-1001-demo', 'demo@cakemail.test', true],
        ['snd-1001-news', 'news@cakemail.test', true],
        ['snd-1001-pending', 'pending@cakemail.test', false],
      ],
    );
    assert.equal(t.sb.stats().senders, 1);
  });

  it('pages with page/per_page and gives the count only with with_count', async () => {
    const pages: string[][] = [];
    for (let page = 1; page <= 4; page++) {
      const r = await call(t.sb, 'GET', `/brands/default/senders?page=${page}&per_page=3`, { token: many });
      assert.equal(r.status, 200);
      const b = r.body as SendersBody;
      assert.deepEqual(b.pagination, { page, per_page: 3 });
      pages.push(b.data.map((s) => s.name));
    }
    assert.deepEqual(pages, [['Alice', 'Bob', 'Carol'], ['Dave', 'Eve', 'Frank'], ['Grace'], []]);
    const c = await call(t.sb, 'GET', '/brands/default/senders?per_page=2&with_count=true', { token: many });
    assert.deepEqual((c.body as SendersBody).pagination, { page: 1, per_page: 2, count: 7 });
  });

  it('sorts with sort=[-|+]term', async () => {
    const r = await call(t.sb, 'GET', '/brands/default/senders?sort=-name&per_page=3', { token: many });
    assert.deepEqual(
      (r.body as SendersBody).data.map((s) => s.name),
      ['Grace', 'Frank', 'Eve'],
    );
    const bad = await call(t.sb, 'GET', '/brands/default/senders?sort=id', { token: many });
    assert.equal(bad.status, 422);
  });

  it('account_id selects another of the token’s accounts, 403 for one it lacks', async () => {
    let r = await call(t.sb, 'GET', '/brands/default/senders?account_id=2002', { token: multi });
    assert.equal(r.status, 200);
    assert.deepEqual(
      (r.body as SendersBody).data.map((s) => s.id),
      ['snd-2002-other'],
    );
    r = await call(t.sb, 'GET', '/brands/default/senders', { token: multi });
    assert.equal((r.body as SendersBody).data[0]?.id, 'snd-1001-demo');
    r = await call(t.sb, 'GET', '/brands/default/senders?account_id=2002', { token: demo });
    assert.equal(r.status, 403);
    assert.equal(schemaErrors('HTTPForbiddenError', r.body), null);
  });

  it('invalid query parameters answer 422 with query locs', async () => {
    const r = await call(t.sb, 'GET', '/brands/default/senders?per_page=0&page=x', { token: demo });
    assert.equal(r.status, 422);
    assert.equal(schemaErrors('HTTPValidationError', r.body), null);
    assert.deepEqual(r.body, {
      detail: [
        { loc: ['query', 'page'], msg: 'value is not a valid integer', type: 'type_error.integer' },
        {
          loc: ['query', 'per_page'],
          msg: 'ensure this value is greater than or equal to 1',
          type: 'value_error.number.not_ge',
        },
      ],
    });
  });

  it('no token: 401 with a string detail (FastAPI); bad token: 401 list detail', async () => {
    let r = await call(t.sb, 'GET', '/brands/default/senders');
    assert.equal(r.status, 401);
    assert.deepEqual(r.body, { detail: 'Not authenticated' });
    assert.equal(r.headers.get('www-authenticate'), 'Bearer');
    r = await call(t.sb, 'GET', '/brands/default/senders', { token: 'a.b.c' });
    assert.equal(r.status, 401);
    assert.deepEqual(r.body, { detail: [{ msg: 'Could not validate credentials', type: 'unauthorized' }] });
    // A tampered payload with the original signature is refused.
    const [h, , s] = demo.split('.');
    const forged = Buffer.from(
      JSON.stringify({ iss: 'urn:cakemail', sub: 'x', accounts: [2002], exp: 9e9 }),
    ).toString('base64url');
    r = await call(t.sb, 'GET', '/brands/default/senders', { token: `${h}.${forged}.${s}` });
    assert.equal(r.status, 401);
  });
});
