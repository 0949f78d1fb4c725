import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  OPENAPI_COPY_URL,
  OPENAPI_SHARED_URL,
  SUBMIT_EMAIL_ASCII_PATTERNS,
  getValidators,
} from '../../src/sandbox/schema-validator.ts';
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

describe('SubmitEmail string lengths (validated in UTF-16 units)', () => {
  type Node = Record<string, unknown>;
  const schemas = (
    JSON.parse(readFileSync(OPENAPI_COPY_URL, 'utf8')) as { components: { schemas: Record<string, Node> } }
  ).components.schemas;

  it('has only rules on which UTF-16 units and code points agree', () => {
    const rules: string[] = [];
    const seen = new Set<string>(['SubmitEmail']);
    const walk = (n: unknown, at: string): void => {
      if (Array.isArray(n)) return n.forEach((x, i) => walk(x, `${at}[${i}]`));
      if (!n || typeof n !== 'object') return;
      const node = n as Node;
      const ref = typeof node.$ref === 'string' ? node.$ref.split('/').pop()! : undefined;
      if (ref !== undefined && !seen.has(ref)) {
        seen.add(ref);
        walk(schemas[ref], ref);
      }
      const min = node.minLength as number | undefined;
      const max = node.maxLength as number | undefined;
      if (min !== undefined || max !== undefined) {
        rules.push(at);
        // A string of length >= 1 has a code point and the reverse: minimums of 0 or 1 agree.
        assert.ok(min === undefined || min <= 1, `${at}: minLength ${min} counts differently`);
        // Ajv applies maxLength to strings only (the tags array's is ignored).
        if (max !== undefined && node.type === 'string') {
          assert.ok(
            SUBMIT_EMAIL_ASCII_PATTERNS.has(String(node.pattern)),
            `${at}: maxLength ${max} without an ASCII-only pattern`,
          );
        }
      }
      for (const [k, v] of Object.entries(node)) if (k !== '$ref') walk(v, `${at}.${k}`);
    };
    walk(schemas.SubmitEmail, 'SubmitEmail');
    assert.ok(rules.length >= 5, `the walk found the length rules (${rules.join(', ')})`);
  });

  it('still refuses an empty body and accepts one astral character', () => {
    const { submitEmail } = getValidators();
    const body = (text: string) => ({
      email: 'r@example.com',
      sender: { id: '1' },
      content: { subject: 's', text, encoding: 'utf-8', type: 'transactional' },
    });
    assert.equal(submitEmail(body('\u{1F600}')), null);
    assert.ok(submitEmail(body('')));
  });
});
