/**
 * Test helper for src/mail: the SubmitEmail body a ConvertedMessage becomes once the
 * delivery layer adds `email` and `sender`, validated against Cakemail's own schema
 * (/work/shared/cakemail/openapi-subset.json, else the sandbox's copy).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { ConvertedMessage } from '../../src/mail/convert.ts';

const SHARED = new URL('../../../shared/cakemail/openapi-subset.json', import.meta.url);
const COPY = new URL('../../src/sandbox/openapi-subset.json', import.meta.url);

let validate: ValidateFunction | undefined;

function submitEmailValidator(): ValidateFunction {
  if (validate) return validate;
  const url = existsSync(SHARED) ? SHARED : COPY;
  const doc = JSON.parse(readFileSync(url, 'utf8')) as { components: unknown };
  // strict off: the document is OpenAPI (e.g. `pattern` on the tags array), not pure JSON Schema
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormatsModule.default(ajv);
  ajv.addSchema({ $id: 'openapi.json', components: doc.components });
  const fn = ajv.getSchema('openapi.json#/components/schemas/SubmitEmail');
  assert.ok(fn, 'SubmitEmail schema not found');
  validate = fn;
  return fn;
}

/** The request body the gateway would POST for one recipient. */
export function submitBody(m: ConvertedMessage): Record<string, unknown> {
  const c = m.control;
  return {
    email: 'rcpt@example.com',
    sender: { id: c.senderId ?? 'sender-1' },
    content: m.content,
    ...(c.listId !== undefined ? { list_id: c.listId } : {}),
    ...(c.tags ? { tags: c.tags } : {}),
    ...(c.tracking ? { tracking: c.tracking } : {}),
    ...(m.additionalHeaders.length > 0 ? { additional_headers: m.additionalHeaders } : {}),
    ...(m.attachments.length > 0 ? { attachment: m.attachments } : {}),
  };
}

/** Schema errors of the body built from `m`, or null when it is valid. */
export function schemaErrors(m: ConvertedMessage): string | null {
  const fn = submitEmailValidator();
  if (fn(submitBody(m))) return null;
  return JSON.stringify(fn.errors);
}

export function assertSchemaValid(m: ConvertedMessage): void {
  const errors = schemaErrors(m);
  assert.equal(errors, null, `SubmitEmail body does not validate: ${errors}`);
}
