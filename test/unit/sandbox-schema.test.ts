import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { OPENAPI_COPY_URL, OPENAPI_SHARED_URL, getValidators } from '../../src/sandbox/schema-validator.ts';
import { buildDirectory, DEFAULT_USERS, DEMO_USER } from '../../src/sandbox/users.ts';

describe('sandbox schema and users data', () => {
  it('src/sandbox/openapi-subset.json has the same content as ../shared/cakemail/openapi-subset.json', (t) => {
    if (!existsSync(OPENAPI_SHARED_URL)) {
      t.skip('../shared is not present (production image)');
      return;
    }
    // Compared as JSON, not bytes: `prettier --write .` reformats the copy.
    const copy: unknown = JSON.parse(readFileSync(OPENAPI_COPY_URL, 'utf8'));
    assert.deepEqual(copy, JSON.parse(readFileSync(OPENAPI_SHARED_URL, 'utf8')));
  });

  it('compiles the validators once and validates SubmitEmail', () => {
    const v = getValidators();
    assert.equal(getValidators(), v);
    assert.equal(
      v.submitEmail({
        email: 'a@b.test',
        sender: { id: 'x' },
        content: { subject: 's', type: 'transactional', text: 't' },
      }),
      null,
    );
    assert.deepEqual(v.submitEmail({ sender: { id: 'x' } }), [
      { loc: ['body', 'content'], msg: 'field required', type: 'value_error.missing' },
    ]);
  });

  it('the test fixture contains the built-in users and accounts unchanged', () => {
    const fixture = JSON.parse(
      readFileSync(new URL('../fixtures/sandbox-users.json', import.meta.url), 'utf8'),
    ) as {
      accounts: Array<{ id: number }>;
      users: Array<{ username: string }>;
    };
    for (const a of DEFAULT_USERS.accounts)
      assert.deepEqual(
        fixture.accounts.find((x) => x.id === a.id),
        a,
      );
    for (const u of DEFAULT_USERS.users)
      assert.deepEqual(
        fixture.users.find((x) => x.username === u.username),
        u,
      );
    buildDirectory(fixture, 'fixture');
  });

  it('the demo user has a confirmed sender with its own address', () => {
    const dir = buildDirectory(DEFAULT_USERS);
    const user = dir.users.get(DEMO_USER.username);
    assert.equal(user?.password, DEMO_USER.password);
    const account = dir.accounts.get(user?.accounts[0] ?? 0);
    const sender = account?.senders.find((s) => s.email === DEMO_USER.senderEmail);
    assert.equal(sender?.confirmed, true);
    assert.equal(account?.senders.filter((s) => s.confirmed).length, 2);
    assert.equal(account?.senders.filter((s) => !s.confirmed).length, 1);
  });

  it('refuses inconsistent users data with a message naming the problem', () => {
    assert.throws(() => buildDirectory({ accounts: [], users: [] }, 'f.json'), /^Error: f\.json: accounts:/);
    assert.throws(
      () =>
        buildDirectory({
          accounts: [{ id: 1, name: 'a', senders: [] }],
          users: [{ username: 'u@x.test', password: 'p', accounts: [2] }],
        }),
      /unknown account 2/,
    );
  });
});
