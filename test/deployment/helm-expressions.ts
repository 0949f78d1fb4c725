/**
 * The expression language of the chart checker (helm-template.ts): the part of Go
 * templates and Sprig the chart's actions use, evaluated over .Values, .Chart, .Release
 * and .Files. What cannot be computed here (`include`, `sha256sum`, `.Template`…) is
 * UNRESOLVED, which matches anything; a function or field outside that set throws.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

export const UNRESOLVED: unique symbol = Symbol('unresolved');
export type Value = unknown;

export interface TemplateContext {
  readonly values: Record<string, unknown>;
  readonly chart: { readonly Name: string; readonly Version: string; readonly AppVersion: string };
  readonly release: { readonly Name: string; readonly Namespace: string; readonly Service: string };
  readonly chartDir: string;
}

const KNOWN_UNRESOLVED = new Set([
  'include',
  'print',
  'sha256sum',
  'trunc',
  'trimSuffix',
  'replace',
  'contains',
]);

type Term =
  | { kind: 'lit'; v: string | number | boolean }
  | { kind: 'field'; path: string[] }
  | { kind: 'ident'; name: string }
  | { kind: 'sub'; p: string[][] };

function lex(src: string): string[] {
  const out: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\(|\)|\||[^\s()|]+)/gy;
  let end = 0;
  for (let m = re.exec(src); m !== null && m[1] !== undefined; m = re.exec(src)) {
    out.push(m[1]);
    end = re.lastIndex;
  }
  if (src.slice(end).trim() !== '') throw new Error(`cannot lex template action: ${src}`);
  return out;
}

/** Splits lexemes into commands (by top-level `|`), keeping parenthesised groups as one item. */
function pipeline(lexemes: string[]): string[][] {
  const commands: string[][] = [[]];
  let depth = 0;
  for (const l of lexemes) {
    if (l === '(') depth++;
    if (l === ')') depth--;
    if (l === '|' && depth === 0) commands.push([]);
    else commands.at(-1)?.push(l);
  }
  return commands;
}

function terms(command: string[]): Term[] {
  const out: Term[] = [];
  for (let i = 0; i < command.length; i++) {
    const l = command[i] as string;
    if (l === '(') {
      let depth = 1;
      let j = i + 1;
      for (; j < command.length && depth > 0; j++) {
        if (command[j] === '(') depth++;
        if (command[j] === ')') depth--;
      }
      out.push({ kind: 'sub', p: pipeline(command.slice(i + 1, j - 1)) });
      i = j - 1;
    } else if (l.startsWith('"')) out.push({ kind: 'lit', v: JSON.parse(l) as string });
    else if (l.startsWith('`')) out.push({ kind: 'lit', v: l.slice(1, -1) });
    else if (/^-?\d+(\.\d+)?$/.test(l)) out.push({ kind: 'lit', v: Number(l) });
    else if (l === 'true' || l === 'false') out.push({ kind: 'lit', v: l === 'true' });
    else if (l === '.' || l.startsWith('.') || l.startsWith('$.')) {
      out.push({ kind: 'field', path: l.replace(/^\$/, '').split('.').filter(Boolean) });
    } else if (l.startsWith('$')) throw new Error(`template variables are outside the checked dialect: ${l}`);
    else out.push({ kind: 'ident', name: l });
  }
  return out;
}

export function truthy(v: Value): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

function field(path: string[], ctx: TemplateContext): Value {
  const [root, ...rest] = path;
  let cur: Value;
  if (root === undefined) return UNRESOLVED; // `.`, the whole context
  if (root === 'Values') cur = ctx.values;
  else if (root === 'Chart') cur = ctx.chart;
  else if (root === 'Release') cur = ctx.release;
  else if (root === 'Template' || root === 'Capabilities') return UNRESOLVED;
  else throw new Error(`unknown template field .${path.join('.')}`);
  for (const k of rest)
    cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, Value>)[k] : undefined;
  return cur;
}

export function toText(v: Value): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') throw new Error(`printing a map/list needs toYaml: ${JSON.stringify(v)}`);
  return String(v);
}

function indentText(text: string, n: number): string {
  const pad = ' '.repeat(n);
  return text
    .split('\n')
    .map((l) => pad + l)
    .join('\n');
}

function call(name: string, args: Value[], ctx: TemplateContext): Value {
  if (args.includes(UNRESOLVED) && name !== 'default') return UNRESOLVED;
  const a = (i: number): Value => args[i];
  switch (name) {
    case 'quote':
      return JSON.stringify(toText(a(0)));
    case 'toYaml':
      return truthy(a(0)) ? stringify(a(0)).replace(/\n$/, '') : '{}';
    case 'toJson':
      return JSON.stringify(a(0));
    case 'nindent':
      return '\n' + indentText(toText(a(1)), Number(a(0)));
    case 'indent':
      return indentText(toText(a(1)), Number(a(0)));
    case 'default': {
      const given = a(1);
      if (given === UNRESOLVED) return UNRESOLVED;
      return truthy(given) ? given : a(0);
    }
    case 'printf': {
      let i = 1;
      return toText(a(0)).replace(/%[sdv]/g, () => toText(a(i++)));
    }
    case 'int':
      return Number.parseInt(toText(a(0)), 10);
    case 'not':
      return !truthy(a(0));
    case 'and':
      return args.every(truthy);
    case 'or':
      return args.some(truthy);
    case 'Files.Get':
      return readFileSync(join(ctx.chartDir, toText(a(0))), 'utf8');
    default:
      if (KNOWN_UNRESOLVED.has(name)) return UNRESOLVED;
      throw new Error(`template function outside the checked dialect: ${name}`);
  }
}

function evalPipeline(commands: string[][], ctx: TemplateContext): Value {
  let prev: Value | undefined;
  commands.forEach((command, index) => {
    const ts = terms(command);
    const [head, ...rest] = ts;
    if (!head) throw new Error('empty template command');
    const evalTerm = (t: Term): Value =>
      t.kind === 'lit'
        ? t.v
        : t.kind === 'field'
          ? field(t.path, ctx)
          : t.kind === 'sub'
            ? evalPipeline(t.p, ctx)
            : UNRESOLVED;
    let v: Value;
    if (head.kind === 'field' && head.path.join('.') === 'Files.Get')
      v = call('Files.Get', rest.map(evalTerm), ctx);
    else if (head.kind === 'ident') {
      const args = rest.map(evalTerm);
      if (index > 0) args.push(prev);
      v = call(head.name, args, ctx);
    } else {
      if (rest.length > 0 || index > 0) throw new Error(`not a function: ${command.join(' ')}`);
      v = evalTerm(head);
    }
    prev = v;
  });
  return prev;
}

export function evaluate(expr: string, ctx: TemplateContext): Value {
  return evalPipeline(pipeline(lex(expr)), ctx);
}
