// The bench's flame graph (bench/flamegraph.ts) from tiny synthetic .cpuprofile files:
// widths follow inclusive time, profiles merge, idle and out-of-window samples are left
// out, names are escaped.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { flameGraph } from '../../bench/flamegraph.ts';

const dir = mkdtempSync(join(tmpdir(), 'flame-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const frame = (functionName: string, url = 'file:///tmp/app.js', lineNumber = 0) => ({
  functionName,
  url,
  lineNumber,
  columnNumber: 0,
});

/** (root) → main → work, (root) → main → odd (named `<&">`), (root) → (idle); 1 ms a sample. */
function profile(name: string, samples: number[], startTime = 0): string {
  const nodes = [
    { id: 1, callFrame: frame('(root)', '', -1), children: [2, 3] },
    { id: 2, callFrame: frame('main'), children: [4, 5] },
    { id: 3, callFrame: frame('(idle)', '', -1) },
    { id: 4, callFrame: frame('work', 'file:///tmp/app.js', 9) },
    { id: 5, callFrame: frame('<&">', 'file:///tmp/app.js', 20) },
  ];
  const file = join(dir, name);
  const timeDeltas = samples.map(() => 1000);
  writeFileSync(
    file,
    JSON.stringify({ nodes, samples, timeDeltas, startTime, endTime: startTime + samples.length * 1000 }),
  );
  return file;
}

const MAIN = 2;
const IDLE = 3;
const WORK = 4;
const ODD = 5;
// a: work 3 ms, main itself 1 ms, idle 2 ms; b (later clock): work 2 ms, odd 4 ms.
const a = profile('a.cpuprofile', [WORK, WORK, WORK, MAIN, IDLE, IDLE]);
const b = profile('b.cpuprofile', [WORK, ODD, ODD, ODD, ODD, WORK], 100_000);

/** The frames drawn: tooltip and width, by the name the tooltip starts with. */
function frames(svg: string): Array<{ title: string; width: number }> {
  return [...svg.matchAll(/<g><title>([^<]*)<\/title><rect x="[\d.]+" y="\d+" width="([\d.]+)"/g)].map(
    (m) => ({ title: m[1]!, width: Number(m[2]) }),
  );
}
const one = (svg: string, name: string) => {
  const found = frames(svg).filter((f) => f.title.startsWith(`${name} `) || f.title.startsWith(`${name}:`));
  assert.equal(found.length, 1, `one frame ${name}: ${JSON.stringify(frames(svg))}`);
  return found[0]!;
};

test('a frame is as wide as its inclusive time; idle time is left out', () => {
  const svg = flameGraph([a], { title: 'a' });
  const all = one(svg, 'all');
  assert.match(all.title, /4\.0 ms, 100\.0 % of busy/);
  assert.ok(Math.abs(one(svg, 'main').width - all.width) < 0.02);
  assert.ok(Math.abs(one(svg, 'work').width / all.width - 3 / 4) < 0.001);
  assert.match(one(svg, 'work').title, /^work \/tmp\/app\.js:10: 3\.0 ms, 75\.0 % of busy/);
  assert.ok(!svg.includes('(idle)'));
});

test('the same frame in two profiles is one rect with the summed time', () => {
  const svg = flameGraph([a, b], { title: 'a + b' });
  assert.match(one(svg, 'all').title, /10\.0 ms/);
  assert.match(one(svg, 'main').title, /10\.0 ms, 100\.0 %/);
  const work = one(svg, 'work');
  assert.match(work.title, /5\.0 ms, 50\.0 %/);
  assert.ok(Math.abs(work.width / one(svg, 'all').width - 0.5) < 0.001);
});

test('samples outside the window are left out', () => {
  // a's samples are at 1..6 ms: the window keeps the first three (work), b's are all later.
  const svg = flameGraph([a, b], { title: 'window', windowUs: { fromUs: 0, toUs: 3000 } });
  assert.match(one(svg, 'all').title, /3\.0 ms/);
  assert.match(one(svg, 'work').title, /3\.0 ms, 100\.0 %/);
  assert.ok(!svg.includes('&#60;&#38;&#34;&#62;'), 'b is outside the window');
});

test('names and the title are escaped; the markup is balanced', () => {
  const svg = flameGraph([b], { title: 'b <&">' });
  assert.match(one(svg, '&#60;&#38;&#34;&#62;').title, /4\.0 ms, 66\.7 %/);
  assert.ok(svg.includes('>&#60;&#38;&#34;&#62;</text>'), 'the label is drawn, escaped');
  assert.ok(svg.includes('>b &#60;&#38;&#34;&#62;</text>'));
  // Every tag closes in order and text between tags has no raw <, > or bare &.
  const open: string[] = [];
  for (const part of svg.split(/(<[^<>]*>)/)) {
    const tag = /^<(\/?)([a-zA-Z]+)[^<>]*?(\/?)>$/.exec(part);
    if (tag) {
      if (tag[1]) assert.equal(open.pop(), tag[2]);
      else if (!tag[3]) open.push(tag[2]!);
    } else {
      assert.ok(!/[<>]/.test(part), `raw < or > in text: ${part}`);
      assert.ok(!/&(?!#\d+;|amp;|lt;|gt;|quot;)/.test(part), `bare & in text: ${part}`);
    }
  }
  assert.deepEqual(open, []);
});
