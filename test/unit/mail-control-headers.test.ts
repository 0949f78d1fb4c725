import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { convertMessage } from '../../src/mail/convert.ts';
import { OPTS, assertRefused, message } from '../helpers/mail-fixtures.ts';
import { assertSchemaValid } from '../helpers/mail-schema.ts';

const convert = (headers: string[], opts = OPTS) =>
  convertMessage(message(['From: a@example.com', 'Subject: control', ...headers]), opts);

describe('convertMessage: Cakemail control headers', () => {
  it('reads every control header and strips all of them from the forwarded headers', async () => {
    const m = await convert([
      'X-List-Id: 42',
      'X-Email-Api-Type: Marketing',
      'X-Sender-Id: snd_7f3a',
      'X-Tags: welcome, onboarding-1 ,a_b',
      'X-Track-Opens: yes',
      'X-Track-Clicks-Html: 0',
      'X-Track-Clicks-Text: FALSE',
      'X-Account-Id: 1234',
      'X-Other: kept',
    ]);
    assert.deepEqual(m.control, {
      type: 'marketing',
      listId: 42,
      senderId: 'snd_7f3a',
      accountId: 1234,
      tags: ['welcome', 'onboarding-1', 'a_b'],
      tracking: { opens: true, clicks_html: false, clicks_text: false },
    });
    assert.equal(m.content.type, 'marketing');
    assert.deepEqual(
      m.additionalHeaders.filter((h) => h.name !== 'Message-ID'),
      [{ name: 'X-Other', value: 'kept' }],
    );
    assertSchemaValid(m);
  });

  it('falls back to the configured defaults', async () => {
    const m = await convert([]);
    assert.deepEqual(m.control, { type: 'transactional' });
    const mk = await convert([], { ...OPTS, defaultType: 'marketing', defaultListId: 9 });
    assert.deepEqual(mk.control, { type: 'marketing', listId: 9 });
    const explicit = await convert(['X-List-Id: 3'], { ...OPTS, defaultType: 'marketing', defaultListId: 9 });
    assert.equal(explicit.control.listId, 3);
    const tx = await convert(['X-Email-Api-Type: transactional'], {
      ...OPTS,
      defaultType: 'marketing',
      defaultListId: 9,
    });
    assert.deepEqual(tx.control, { type: 'transactional' });
  });

  it('refuses marketing without a list id (header or default)', async () => {
    await assertRefused(convert(['X-Email-Api-Type: marketing']), 'mimeInvalid', 'X-List-Id');
    await assertRefused(
      convert([], { ...OPTS, defaultType: 'marketing' }),
      'mimeInvalid',
      'marketing email needs a list',
    );
  });

  it('accepts several X-Tags headers and ignores empty entries', async () => {
    const m = await convert(['X-Tags: a,,b', 'X-Tags: c, a', 'X-Tags:']);
    assert.deepEqual(m.control.tags, ['a', 'b', 'c']);
    const none = await convert(['X-Tags: ']);
    assert.equal(none.control.tags, undefined);
  });

  const invalid: [string, string][] = [
    ['X-List-Id: abc', 'X-List-Id'],
    ['X-List-Id: 0', 'X-List-Id'],
    ['X-List-Id: -4', 'X-List-Id'],
    ['X-List-Id: 99999999999999999', 'X-List-Id'],
    ['X-Account-Id: 1.5', 'X-Account-Id'],
    ['X-Email-Api-Type: newsletter', 'X-Email-Api-Type'],
    ['X-Sender-Id: has space', 'X-Sender-Id'],
    ['X-Tags: ok, not ok', 'X-Tags'],
    ['X-Tags: émoji', 'X-Tags'],
    ['X-Track-Opens: maybe', 'X-Track-Opens'],
    ['X-Track-Clicks-Html: 2', 'X-Track-Clicks-Html'],
    ['X-Track-Clicks-Text: on', 'X-Track-Clicks-Text'],
  ];
  for (const [header, name] of invalid) {
    it(`refuses ${header}, naming the header`, async () => {
      const e = await assertRefused(convert([header]), 'mimeInvalid', `invalid ${name} header`);
      assert.equal(e.responseCode, 554);
      assert.match(e.message, /^5\.6\.0 /);
    });
  }

  it('refuses a control header repeated with different values, accepts an identical repeat', async () => {
    await assertRefused(convert(['X-List-Id: 1', 'X-List-Id: 2']), 'mimeInvalid', 'appears twice');
    const m = await convert(['X-List-Id: 1', 'x-list-id: 1']);
    assert.equal(m.control.listId, 1);
  });

  it('validates control headers before decoding anything', async () => {
    // the body is not even looked at: a broken control header is the first thing reported
    const raw = message(['Subject: s', 'X-List-Id: nope', 'Content-Type: application/zip'], 'PK\r\n');
    await assertRefused(convertMessage(raw, OPTS), 'mimeInvalid', 'X-List-Id');
  });
});
