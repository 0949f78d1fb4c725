// parseStructured (src/mail/header-fields.ts) reads the parameters the prescan needs
// (boundary, charset) as libmime's parseHeaderValue does for mailparser's splitter.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import libmime from 'libmime';
import { parseStructured } from '../../src/mail/header-fields.ts';

test('RFC 2231 parameters: the same values as libmime, the extended form beating the plain one', () => {
  const values = [
    "multipart/mixed; boundary*=utf-8''b; boundary=c",
    "multipart/mixed; boundary=c; boundary*=utf-8''b",
    'multipart/mixed; boundary*0=ab; boundary*1=cd; boundary=x',
    "multipart/mixed; boundary*0*=utf-8''a%62; boundary*1=c%64",
    'multipart/mixed; boundary*=a%62',
    "multipart/mixed; boundary*=''a%62",
    "multipart/mixed; boundary*1=cd; boundary*0*=us-ascii'en'ab",
    "multipart/mixed; boundary*=utf-8''first; boundary*=utf-8''second",
    "text/plain; charset*=us-ascii''utf-8; charset=iso-8859-1",
    "text/plain; charset=iso-8859-1; charset*0*=''utf%2D8",
    "text/plain; format=flowed; charset*=utf-8''iso-8859-1",
  ];
  for (const value of values) {
    const ours = parseStructured(value);
    const theirs = libmime.parseHeaderValue(value, { stripComments: true });
    for (const name of ['boundary', 'charset', 'format']) {
      assert.equal(ours.params.get(name), theirs.params[name], `${name} of ${value}`);
    }
  }
  assert.equal(
    parseStructured("multipart/mixed; boundary*=utf-8''b; boundary=c").params.get('boundary'),
    'b',
  );
  assert.equal(
    parseStructured("multipart/mixed; boundary=c; boundary*=utf-8''b").params.get('boundary'),
    'b',
  );
});
