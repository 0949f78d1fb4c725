/**
 * .dockerignore semantics as BuildKit applies them (moby/patternmatcher): patterns in
 * order, the last one matching a path or any of its parent directories decides, `!`
 * re-includes, `*` and `?` stay within one path segment, `**` spans segments.
 */
import { posix } from 'node:path';

interface Rule {
  readonly negated: boolean;
  readonly re: RegExp;
  readonly source: string;
}

function toRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else {
        re += '.*';
      }
    } else if (c === '*') {
      re += '[^/]*';
    } else if (c === '?') {
      re += '[^/]';
    } else {
      re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`);
}

export function parseDockerignore(content: string): Rule[] {
  const rules: Rule[] = [];
  for (const raw of content.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negated = line.startsWith('!');
    if (negated) line = line.slice(1).trim();
    const cleaned = posix.normalize(line).replace(/^\/+/, '').replace(/\/+$/, '');
    rules.push({ negated, re: toRegExp(cleaned), source: raw });
  }
  return rules;
}

/** True when `path` (relative to the context root, '/'-separated) is left out of the build context. */
export function isExcluded(rules: readonly Rule[], path: string): boolean {
  const parts = posix.normalize(path).split('/');
  const candidates = parts.map((_p, i) => parts.slice(0, i + 1).join('/'));
  let excluded = false;
  for (const rule of rules) {
    if (candidates.some((c) => rule.re.test(c))) excluded = !rule.negated;
  }
  return excluded;
}
