// `npm run docs`: regenerates the generated tables (replies, config, metrics) in README.md and docs/operations.md.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderBlocks } from '../src/docs/readme-tables.ts';

for (const file of ['../README.md', '../docs/operations.md']) {
  const path = new URL(file, import.meta.url);
  writeFileSync(path, renderBlocks(readFileSync(path, 'utf8')));
}
