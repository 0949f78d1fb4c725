/**
 * The README's generated tables: SMTP replies (from src/smtp/replies.ts) and settings
 * (from src/config/schema.ts). `npm run docs` rewrites the marked blocks; a unit test
 * fails when the README is stale, so code and docs cannot drift.
 */
import { CONFIG_VARIABLES, SECRET_VARIABLES } from '../config/schema.ts';
import { REPLIES, type ReplySpec } from '../smtp/replies.ts';

const cell = (s: string) => s.replace(/\|/g, '\\|');

export function replyTable(): string {
  const rows = Object.entries(REPLIES as Record<string, ReplySpec>).map(
    ([key, r]) => `| \`${r.code} ${r.enhanced}\` | ${cell(r.text)} | ${cell(r.when)} | \`${key}\` |`,
  );
  return ['| reply | text | when | key |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

export function configTable(): string {
  const rows = Object.entries(CONFIG_VARIABLES).map(([name, [, fallback, description]]) => {
    const def =
      fallback === undefined
        ? '—'
        : fallback === ''
          ? '(empty)'
          : name === 'SMTP_WORKERS'
            ? 'CPUs'
            : `\`${fallback}\``;
    return `| \`${name}\` | ${def} | ${cell(description)}${SECRET_VARIABLES.has(name) ? ' (secret: masked)' : ''} |`;
  });
  return ['| variable | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

export function renderBlocks(readme: string): string {
  return replaceBlock(replaceBlock(readme, 'replies', replyTable()), 'config', configTable());
}

function replaceBlock(text: string, name: string, body: string): string {
  const start = `<!-- generated:${name} -->`;
  const end = `<!-- /generated:${name} -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`README lacks the ${start} … ${end} block`);
  return text.slice(0, i + start.length) + '\n' + body + '\n' + text.slice(j);
}
