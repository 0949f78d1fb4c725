/**
 * No helm binary here, and no Go template engine either: this is a CHECKER, not a
 * renderer. It reads a chart template line by line under a deliberately small dialect:
 *   - control actions (`if`, `else`, `else if`, `end`, comments) alone on their line, with
 *     conditions over .Values only (`.Values.x`, `not`, `and`, `or`) so they can be decided;
 *   - every other action becomes a placeholder token `__TPL_n__`; an action alone on its line
 *     is either the value of the key above it or a splice of map entries (`__TPL_n__: __TPL_n__`).
 * The result must parse as YAML. Each token keeps what it would render to when that can be
 * computed from the values (`.Values.x`, `quote`, `toYaml | nindent`, `default`, `printf`,
 * `.Files.Get`…); `include`, `sha256sum` and friends stay unresolved (match anything).
 * `compareWithManifest` then checks a rendered document against a plain manifest (the
 * kustomize base): same keys, same literals, resolved tokens equal to the manifest's values.
 * Anything outside the dialect throws, which keeps the templates simple.
 */
import { isDeepStrictEqual } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import {
  UNRESOLVED,
  evaluate,
  toText,
  truthy,
  type TemplateContext,
  type Value,
} from './helm-expressions.ts';

export { UNRESOLVED, evaluate, type TemplateContext } from './helm-expressions.ts';

export interface Token {
  readonly expr: string;
  /** What the action renders to, parsed as YAML; UNRESOLVED when it cannot be computed here. */
  readonly value: Value | typeof UNRESOLVED;
  /** Raw rendered text (for tokens inside a longer string). */
  readonly text: string | typeof UNRESOLVED;
}

export interface CheckedTemplate {
  /** YAML documents (null-free) with tokens in place of actions. */
  readonly docs: Record<string, unknown>[];
  readonly tokens: ReadonlyMap<string, Token>;
  readonly yaml: string;
}

const YAML11 = { version: '1.1' } as const;
const ACTION = /\{\{(-?)\s*([\s\S]*?)\s*(-?)\}\}/g;
// --- line processing ----------------------------------------------------------------
interface OutLine {
  text: string;
  indent: number;
  tokenOnly?: string;
}

const isControl = (expr: string): boolean =>
  /^(if|else|end|with|range|define|block|template)\b|^\/\*/.test(expr);

export function checkTemplate(source: string, ctx: TemplateContext): CheckedTemplate {
  const tokens = new Map<string, Token>();
  const stack: { active: boolean; taken: boolean }[] = [];
  const active = (): boolean => stack.every((s) => s.active);
  const out: OutLine[] = [];
  /** `quoted`: the action sits inside a quoted YAML scalar, so it renders a string whatever it prints. */
  const newToken = (expr: string, quoted = false): string => {
    const name = `__TPL_${tokens.size}__`;
    let text: string | typeof UNRESOLVED = UNRESOLVED;
    let value: Value | typeof UNRESOLVED = UNRESOLVED;
    if (active()) {
      const v = evaluate(expr, ctx);
      if (v !== UNRESOLVED && quoted) {
        text = toText(v);
        value = text;
      } else if (v !== UNRESOLVED) {
        text = toText(v);
        const body = text.replace(/^\n/, '');
        const minIndent = Math.min(
          ...body
            .split('\n')
            .filter((l) => l.trim())
            .map((l) => l.length - l.trimStart().length),
        );
        value =
          body.trim() === ''
            ? null
            : parse(
                body
                  .split('\n')
                  .map((l) => l.slice(minIndent))
                  .join('\n'),
                YAML11,
              );
      }
    }
    tokens.set(name, { expr, value, text });
    return name;
  };

  for (const [n, line] of source.split('\n').entries()) {
    if (line.includes('{{') && !/\}\}/.test(line.slice(line.lastIndexOf('{{')))) {
      throw new Error(`line ${n + 1}: an action spans lines`);
    }
    const actions = [...line.matchAll(ACTION)].map((m) => m[2] ?? '');
    const rest = line.replace(ACTION, '').trim();
    const indent = line.length - line.trimStart().length;
    if (actions.length > 0 && rest === '' && actions.every(isControl)) {
      for (const expr of actions) {
        const [kw = ''] = expr.split(/\s+/);
        if (expr.startsWith('/*')) continue;
        if (kw === 'if') {
          const v = active() ? truthy(mustResolve(expr.slice(3), ctx, n)) : false;
          stack.push({ active: v, taken: v });
        } else if (kw === 'else') {
          const top = stack.at(-1);
          if (!top) throw new Error(`line ${n + 1}: else without if`);
          const cond = expr.replace(/^else\s*(if\s+)?/, '');
          const v = !top.taken && (cond === '' || truthy(mustResolve(cond, ctx, n)));
          top.active = v;
          top.taken ||= v;
        } else if (kw === 'end') {
          if (!stack.pop()) throw new Error(`line ${n + 1}: end without if`);
        } else throw new Error(`line ${n + 1}: ${kw} is outside the checked dialect (use if/else/end)`);
      }
      continue;
    }
    if (actions.some(isControl))
      throw new Error(`line ${n + 1}: control actions must be alone on their line`);
    if (!active()) continue;
    if (actions.length === 1 && rest === '') {
      out.push({ text: '', indent, tokenOnly: newToken(actions[0] as string) });
      continue;
    }
    let text = '';
    let from = 0;
    for (const m of line.matchAll(ACTION)) {
      text += line.slice(from, m.index);
      const quoted = ((text.match(/"/g) ?? []).length - (text.match(/\\"/g) ?? []).length) % 2 === 1;
      text += newToken(m[2] ?? '', quoted);
      from = m.index + m[0].length;
    }
    out.push({ text: text + line.slice(from), indent });
  }
  if (stack.length > 0) throw new Error('if without end');

  // A lone action is the value of the key above it, unless siblings follow (then it splices entries).
  const meaningful = (l: OutLine): boolean => l.tokenOnly !== undefined || !/^\s*(#.*)?$/.test(l.text);
  const lines = out.map((l, i) => {
    if (l.tokenOnly === undefined) return l.text;
    const pad = ' '.repeat(l.indent);
    const prev = out.slice(0, i).findLast(meaningful);
    const next = out.slice(i + 1).find(meaningful);
    const opensBlock =
      prev?.tokenOnly === undefined &&
      prev !== undefined &&
      /:\s*(#.*)?$/.test(prev.text) &&
      prev.indent < l.indent;
    const alone = next === undefined || next.indent < l.indent;
    return opensBlock && alone ? `${pad}${l.tokenOnly}` : `${pad}${l.tokenOnly}: ${l.tokenOnly}`;
  });
  const yaml = lines.join('\n');
  const docs: Record<string, unknown>[] = [];
  for (const d of parseAllDocuments(yaml, YAML11)) {
    if (d.errors.length > 0) throw new Error(`YAML: ${d.errors.map((e) => e.message).join('; ')}\n${yaml}`);
    const js: unknown = d.toJS();
    if (js !== null && js !== undefined) docs.push(js as Record<string, unknown>);
  }
  return { docs, tokens, yaml };
}

function mustResolve(expr: string, ctx: TemplateContext, line: number): Value {
  const v = evaluate(expr, ctx);
  if (v === UNRESOLVED) throw new Error(`line ${line + 1}: condition must depend on .Values only: ${expr}`);
  return v;
}

// --- comparison with a plain manifest ---------------------------------------------------
const TOKEN = /__TPL_\d+__/g;
const isToken = (s: unknown): s is string => typeof s === 'string' && /^__TPL_\d+__$/.test(s);

export interface CompareOptions {
  /** Dotted paths whose difference is expected (e.g. the checksum annotation). */
  readonly ignore?: readonly string[];
}

/** Differences between a checked template document and a manifest, as readable lines. */
export function compareWithManifest(
  tpl: unknown,
  actual: unknown,
  tokens: ReadonlyMap<string, Token>,
  options: CompareOptions = {},
  path = '',
): string[] {
  if ((options.ignore ?? []).includes(path)) return [];
  const diff = (msg: string): string[] => [`${path || '<root>'}: ${msg}`];
  if (isToken(tpl)) {
    const t = tokens.get(tpl);
    if (!t || t.value === UNRESOLVED) return [];
    return isDeepStrictEqual(t.value, actual)
      ? []
      : diff(`{{ ${t.expr} }} renders ${JSON.stringify(t.value)}, manifest has ${JSON.stringify(actual)}`);
  }
  if (typeof tpl === 'string' && TOKEN.test(tpl)) {
    TOKEN.lastIndex = 0;
    const parts = tpl.split(TOKEN);
    const names = tpl.match(TOKEN) ?? [];
    let re = '';
    parts.forEach((p, i) => {
      re += p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const t = names[i] === undefined ? undefined : tokens.get(names[i]);
      if (i < names.length)
        re += !t || t.text === UNRESOLVED ? '.*' : t.text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    });
    return typeof actual === 'string' && new RegExp(`^${re}$`).test(actual)
      ? []
      : diff(`template "${tpl}" does not match ${JSON.stringify(actual)}`);
  }
  if (Array.isArray(tpl)) {
    if (!Array.isArray(actual)) return diff(`list in template, ${JSON.stringify(actual)} in manifest`);
    if (tpl.length !== actual.length)
      return diff(`${tpl.length} items in template, ${actual.length} in manifest`);
    return tpl.flatMap((t, i) => compareWithManifest(t, actual[i], tokens, options, `${path}[${i}]`));
  }
  if (tpl !== null && typeof tpl === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) {
      return diff(`map in template, ${JSON.stringify(actual)} in manifest`);
    }
    const expected: Record<string, unknown> = {};
    let open = false;
    for (const [k, v] of Object.entries(tpl)) {
      if (!isToken(k)) {
        expected[k] = v;
        continue;
      }
      const spliced = tokens.get(k)?.value;
      if (spliced === UNRESOLVED || spliced === undefined) open = true;
      else if (spliced !== null) Object.assign(expected, spliced);
    }
    const out: string[] = [];
    const act = actual as Record<string, unknown>;
    for (const [k, v] of Object.entries(expected)) {
      const sub = path ? `${path}.${k}` : k;
      if (!(k in act)) {
        if (!(options.ignore ?? []).includes(sub)) out.push(`${sub}: in template, not in manifest`);
      } else out.push(...compareWithManifest(v, act[k], tokens, options, sub));
    }
    if (!open) {
      for (const k of Object.keys(act)) {
        const sub = path ? `${path}.${k}` : k;
        if (!(k in expected) && !(options.ignore ?? []).includes(sub))
          out.push(`${sub}: in manifest, not in template`);
      }
    }
    return out;
  }
  return isDeepStrictEqual(tpl, actual)
    ? []
    : diff(`template ${JSON.stringify(tpl)}, manifest ${JSON.stringify(actual)}`);
}

/** Helm's values merge: maps merge recursively, anything else (lists included) replaces. */
export function mergeValues(base: unknown, override: unknown): unknown {
  if (
    base !== null &&
    override !== null &&
    typeof base === 'object' &&
    typeof override === 'object' &&
    !Array.isArray(base) &&
    !Array.isArray(override)
  ) {
    const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
    for (const [k, v] of Object.entries(override)) out[k] = k in out ? mergeValues(out[k], v) : v;
    return out;
  }
  return override;
}
