// `npm run docs`: regenerates the README's reply and config tables from the code.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderBlocks } from '../src/docs/readme-tables.ts';

const path = new URL('../README.md', import.meta.url);
writeFileSync(path, renderBlocks(readFileSync(path, 'utf8')));
