/**
 * The README's generated tables: SMTP replies (from src/smtp/replies.ts) and settings
 * (from src/config/schema.ts). `npm run docs` rewrites the marked blocks; a unit test
 * fails when the README is stale, so code and docs cannot drift.
 */
import { CONFIG_VARIABLES, SECRET_VARIABLES } from '../config/schema.ts';
import { REPLIES, type ReplySpec } from '../smtp/replies.ts';
import { primaryRegistry } from '../metrics/primary-metrics.ts';
import { workerRegistry } from '../metrics/worker-metrics.ts';

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

/** Our own metrics (not the default process ones), from both registries. */
export function metricsTable(): string {
  const ours = [...workerRegistry.getMetricsAsArray(), ...primaryRegistry.getMetricsAsArray()].filter(
    (m) => /^(smtp|cakemail|gateway)_/.test(m.name) && !m.name.startsWith('gateway_primary_'),
  );
  const rows = ours.map((m) => {
    const { labelNames = [], type } = m as unknown as { labelNames?: string[]; type: string };
    const labels = labelNames.length ? labelNames.map((l) => `\`${l}\``).join(', ') : '—';
    return `| \`${m.name}\` | ${type} | ${labels} | ${cell(m.help)} |`;
  });
  return ['| metric | type | labels | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** README: replies + config. docs/operations.md: replies + metrics. */
export function renderBlocks(text: string): string {
  let out = text;
  for (const [name, render] of [
    ['replies', replyTable],
    ['config', configTable],
    ['metrics', metricsTable],
  ] as const) {
    if (out.includes(`<!-- generated:${name} -->`)) out = replaceBlock(out, name, render());
  }
  return out;
}

function replaceBlock(text: string, name: string, body: string): string {
  const start = `<!-- generated:${name} -->`;
  const end = `<!-- /generated:${name} -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`README lacks the ${start} … ${end} block`);
  return text.slice(0, i + start.length) + '\n' + body + '\n' + text.slice(j);
}
