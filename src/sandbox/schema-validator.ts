/**
 * Request validation against Cakemail's own OpenAPI 3.1 schemas (openapi-subset.json),
 * compiled once per process with Ajv's 2020-12 dialect, and the translation of Ajv errors
 * into FastAPI/pydantic-shaped 422 items `{loc, msg, type}` like the real API answers.
 *
 * The schema is loaded from the copy beside this file: production images carry no
 * ../shared. test/unit/sandbox-schema.test.ts keeps the copy equal to the shared one.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { sandboxRegExp } from './regexp-engine.ts';

export const OPENAPI_COPY_URL = new URL('./openapi-subset.json', import.meta.url);
export const OPENAPI_SHARED_URL = new URL('../../../shared/cakemail/openapi-subset.json', import.meta.url);
const SCHEMA_ID = 'cakemail-openapi.json';
/** FastAPI lists every problem; a pathological body must not produce a megabyte of them. */
const MAX_DETAILS = 50;

export type Loc = Array<string | number>;
export interface ValidationDetail {
  loc: Loc;
  msg: string;
  type: string;
}

export interface Validators {
  /** SubmitEmail JSON body; null when valid. */
  submitEmail(body: unknown): ValidationDetail[] | null;
  /** Body_createToken form (mutated: integer fields coerced from strings); null when valid. */
  createToken(form: Record<string, unknown>): ValidationDetail[] | null;
  /** Body_refreshToken form; null when valid. */
  refreshToken(form: Record<string, unknown>): ValidationDetail[] | null;
  /** Any component schema by name, for tests that check the sandbox's own answers. */
  component(name: string): ValidateFunction;
}

let cached: Validators | undefined;

interface OpenApiDoc {
  components: { schemas: Record<string, unknown> };
}

export function loadOpenApi(): OpenApiDoc {
  return JSON.parse(readFileSync(OPENAPI_COPY_URL, 'utf8')) as OpenApiDoc;
}

/**
 * String lengths of SubmitEmail counted in UTF-16 units (`unicode: false`), not code points.
 * Ajv's code-point count walks the whole string in JS, and `content.html` / `text` carry
 * `minLength: 1`: that walk over every message body was ~6 % of the sandbox's CPU in bench
 * (a). Both counts agree for every length rule SubmitEmail has: minimum lengths of at most
 * 1, and a maximum only on ASCII-only patterns (the tags). test/unit/sandbox-schema.test.ts
 * checks that this stays so. Ajv 8 calls the option deprecated but its limitLength rule
 * still reads it; should a later Ajv drop it, validation stays right and only gets slower.
 */
export const SUBMIT_EMAIL_ASCII_PATTERNS: ReadonlySet<string> = new Set(['^[a-zA-Z0-9-_]+$']);

/** Ajv's console, without its notice that `unicode` is deprecated (the option still works). */
const AJV_LOGGER = {
  log: console.log.bind(console),
  warn: (...args: unknown[]) => {
    if (!String(args[0]).startsWith('DEPRECATED: option unicode')) console.warn(...args);
  },
  error: console.error.bind(console),
};

function makeAjv(coerceTypes: boolean, doc: OpenApiDoc, unicode = true): Ajv2020 {
  // strict off: the document is OpenAPI, not pure JSON Schema (e.g. `pattern` on the tags array).
  const ajv = new Ajv2020({
    strict: false,
    allErrors: true,
    coerceTypes,
    unicode,
    code: { regExp: sandboxRegExp },
    logger: AJV_LOGGER,
  });
  addFormatsModule.default(ajv);
  // The refs are "#/components/schemas/X": keep the same layout under one $id.
  ajv.addSchema({ $id: SCHEMA_ID, components: doc.components });
  return ajv;
}

function compiled(ajv: Ajv2020, name: string): ValidateFunction {
  const fn = ajv.getSchema(`${SCHEMA_ID}#/components/schemas/${name}`);
  if (fn === undefined) throw new Error(`openapi-subset.json has no schema ${name}`);
  return fn;
}

/** The validators, compiled on first use and shared by every sandbox in the process. */
export function getValidators(): Validators {
  if (cached !== undefined) return cached;
  const doc = loadOpenApi();
  const json = makeAjv(false, doc);
  const form = makeAjv(true, doc);
  const submit = compiled(makeAjv(false, doc, false), 'SubmitEmail');
  const create = compiled(form, 'Body_createToken');
  const refresh = compiled(form, 'Body_refreshToken');
  const run = (fn: ValidateFunction, data: unknown): ValidationDetail[] | null =>
    fn(data) ? null : toFastApiDetails(fn.errors ?? []);
  cached = {
    submitEmail: (body) => run(submit, body),
    createToken: (f) => run(create, f),
    refreshToken: (f) => run(refresh, f),
    component: (name) => compiled(json, name),
  };
  return cached;
}

function pointerToLoc(pointer: string): Loc {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((seg) => seg.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((seg) => (/^\d+$/.test(seg) ? Number(seg) : seg));
}

/** pydantic v1 error types, which is what Cakemail's FastAPI answers carry. */
function mapError(e: ErrorObject): ValidationDetail {
  const loc: Loc = ['body', ...pointerToLoc(e.instancePath)];
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { loc: [...loc, String(p.missingProperty)], msg: 'field required', type: 'value_error.missing' };
    case 'type':
      return { loc, msg: `value is not a valid ${String(p.type)}`, type: `type_error.${String(p.type)}` };
    case 'enum':
      return {
        loc,
        msg: `value is not a valid enumeration member; permitted: ${(p.allowedValues as unknown[]).map((v) => `'${String(v)}'`).join(', ')}`,
        type: 'type_error.enum',
      };
    case 'format':
      return p.format === 'email'
        ? { loc, msg: 'value is not a valid email address', type: 'value_error.email' }
        : { loc, msg: `value is not a valid ${String(p.format)}`, type: `value_error.${String(p.format)}` };
    case 'minLength':
      return {
        loc,
        msg: `ensure this value has at least ${String(p.limit)} characters`,
        type: 'value_error.any_str.min_length',
      };
    case 'maxLength':
      return {
        loc,
        msg: `ensure this value has at most ${String(p.limit)} characters`,
        type: 'value_error.any_str.max_length',
      };
    case 'pattern':
      return {
        loc,
        msg: `string does not match regex "${String(p.pattern)}"`,
        type: 'value_error.str.regex',
      };
    case 'minimum':
      return {
        loc,
        msg: `ensure this value is greater than or equal to ${String(p.limit)}`,
        type: 'value_error.number.not_ge',
      };
    default:
      return { loc, msg: e.message ?? 'invalid value', type: `value_error.${e.keyword}` };
  }
}

export function toFastApiDetails(errors: readonly ErrorObject[]): ValidationDetail[] {
  // The anyOf summary line adds nothing to the branch errors pydantic would list.
  return errors
    .filter((e) => e.keyword !== 'anyOf')
    .slice(0, MAX_DETAILS)
    .map(mapError);
}
