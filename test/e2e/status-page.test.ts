// The status page in a real headless Chromium, against the real gateway on its embedded sandbox:
// workers, live refresh without reload, the outbox with a hostile subject shown as text, the
// message view (HTML in a sandboxed iframe), recent errors after a kill -9, a screenshot.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import nodemailer from 'nodemailer';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { REPO, startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { SmtpTestClient } from '../helpers/smtp-client.ts';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (Debian package chromium)`;
const VIEWPORT = { width: 1280, height: 900 };
const SCREENSHOT = join(REPO, 'test-results/status-page.png');
const SUBJECT = `Status check <script>alert(1)</script> & "quotes" <img src=x onerror=alert(4)>`;
const HTML = `<p>Hello <b id="bold">from the sandbox</b></p><img src="x" onerror="alert(2)"><script>alert(3)</script>`;

let gw: RunningGateway;
let browser: Browser;
let page: Page;
const dialogs: string[] = [];
const problems: string[] = [];

/** Polls a locator's text until `want` holds (live refresh is every 2 s). */
async function textUntil(loc: Locator, want: (t: string) => boolean, what: string, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < end) {
    last = (await loc.textContent()) ?? '';
    if (want(last)) return last;
    await page.waitForTimeout(100); // a poll interval, not a synchronisation
  }
  throw new Error(`timed out waiting for ${what}; last text: ${JSON.stringify(last)}`);
}

async function visible(loc: Locator, what: string) {
  await loc.waitFor({ state: 'visible', timeout: 5_000 });
  assert.ok(await loc.isVisible(), `${what} is visible`);
  const box = await loc.boundingBox();
  assert.ok(box && box.width > 0 && box.height > 0, `${what} has a size`);
}

before(async () => {
  if (skip) return;
  gw = await startGateway({ testMailSide: false });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1 });
  page = await context.newPage();
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // A CSP violation (e.g. the inline script's hash not matching) shows up as a console error.
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
});

after(async () => {
  await browser?.close();
  if (gw) {
    await gw.stop();
    await rm(gw.dataDir, { recursive: true, force: true });
  }
});

test(
  'status page in Chromium: workers, live refresh, hostile outbox entry as text, message view',
  { skip, timeout: 90_000 },
  async () => {
    // A real client sends a mail whose subject and HTML try to run script.
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: gw.smtpPort,
      secure: false,
      requireTLS: true,
      auth: { user: 'demo@cakemail.test', pass: 'demo-password' },
      tls: { rejectUnauthorized: false },
    });
    const info = await transport.sendMail({
      from: 'demo@cakemail.test',
      to: 'someone@example.com',
      subject: SUBJECT,
      text: 'Plain <text> part',
      html: HTML,
    });
    transport.close();
    assert.match(info.response, /^250 2\.0\.0 /);

    const base = `http://127.0.0.1:${gw.httpPort}`;
    const response = await page.goto(`${base}/`);
    assert.equal(response?.status(), 200);
    assert.match(response?.headers()['content-security-policy'] ?? '', /script-src 'sha256-/);
    const navigations: string[] = [];
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations.push(f.url());
    });
    await page.evaluate(() => {
      (globalThis as unknown as { notReloaded: boolean }).notReloaded = true;
    });

    // Workers: both slots listening, with the pids the workers logged.
    const workerPids = gw.lines
      .filter((l) => l.event === 'worker.listening' && l.role === 'worker')
      .map((l) => String(l.pid));
    const rows = page.locator('#workers-body tr');
    assert.equal(await rows.count(), 2);
    assert.equal(await page.locator('#workers-body tr.state-listening').count(), 2);
    const shownPids = await page.locator('#workers-body td.pid').allTextContents();
    assert.deepEqual(shownPids.sort(), workerPids.sort());
    assert.equal(await page.locator('#workers-summary').textContent(), '2 of 2 listening');

    // Outbox: the message, its subject as text — the markup was not parsed as markup.
    const message = page.locator('#outbox-body tr.message');
    assert.equal(await message.count(), 1);
    assert.equal(await message.locator('td.subject').textContent(), SUBJECT);
    assert.equal(await message.locator('td.to').textContent(), 'someone@example.com');
    assert.equal(await page.locator('#outbox-body script, #outbox-body img').count(), 0);
    assert.equal(await page.locator('script').count(), 1, 'only the page’s own script');

    // Live refresh: connections opened elsewhere appear without a reload, and go away again.
    assert.equal(await page.locator('#connections').textContent(), '0');
    const before = await page.locator('#generated-at').textContent();
    const clients = await Promise.all(
      [1, 2, 3].map(async () => (await SmtpTestClient.connect(gw.smtpPort)).client),
    );
    await textUntil(page.locator('#connections'), (t) => t === '3', '3 open connections on the page');
    for (const c of clients) c.end();
    await textUntil(page.locator('#connections'), (t) => t === '0', 'connections back to 0');
    assert.notEqual(await page.locator('#generated-at').textContent(), before);
    // The rate column now has a value (two snapshots exist), and the subject is still text after refreshes.
    assert.match(
      (await page.locator('#rates-body tr.rate-accepted td.num').first().textContent()) ?? '',
      /^\d+\.\d\d$/,
    );
    assert.equal(await message.locator('td.subject').textContent(), SUBJECT);
    assert.deepEqual(navigations, [], 'no navigation happened');
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded),
      true,
    );

    // Recent errors: a worker killed with -9 shows up without a reload, and its slot comes back.
    const victim = Number(workerPids[0]);
    const mark = gw.lines.length;
    process.kill(victim, 'SIGKILL');
    await gw.waitForLog((l) => l.event === 'worker.listening' && l.role === 'primary', 15_000, mark);
    await textUntil(
      page.locator('#errors-body'),
      (t) => t.includes('worker.exit') && t.includes('worker crashed'),
      'the crash in recent errors',
    );
    assert.equal(await page.locator('#errors-body tr.level-error').count(), 1);
    await textUntil(
      page.locator('#workers-summary'),
      (t) => t === '2 of 2 listening',
      'both slots listening again',
    );
    assert.ok(!(await page.locator('#workers-body td.pid').allTextContents()).includes(String(victim)));

    // Screenshot: key elements visible, the PNG really is a picture of the viewport.
    for (const [sel, what] of [
      ['h1', 'title'],
      ['#readiness', 'readiness badge'],
      ['#workers', 'workers table'],
      ['#connections', 'connection count'],
      ['#rates', 'message rates'],
      ['#breaker', 'breaker state'],
      ['#api-error-ratio', 'API error ratio'],
      ['#errors', 'recent errors'],
      ['#outbox', 'outbox'],
    ] as const)
      await visible(page.locator(sel), what);
    assert.equal(await page.locator('#readiness').textContent(), 'ready');
    assert.equal(await page.locator('#breaker').textContent(), 'closed');
    await mkdir(join(REPO, 'test-results'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    const png = await readFile(SCREENSHOT);
    assert.ok(png.length > 10_000, `screenshot is ${png.length} bytes`);
    assert.deepEqual(
      [...png.subarray(0, 8)],
      [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
      'PNG signature',
    );
    assert.equal(png.subarray(12, 16).toString('latin1'), 'IHDR');
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [VIEWPORT.width, VIEWPORT.height]);

    // Still the same document after all those refreshes (and longer than the no-JS meta refresh period).
    assert.deepEqual(navigations, [], 'no navigation happened');
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded),
      true,
    );
    assert.deepEqual(
      problems.splice(0),
      [],
      'the status page loads and refreshes without an error or CSP violation',
    );

    // The message view: the HTML part renders inside a sandboxed iframe, no script runs anywhere.
    await message.locator('td.view a').click();
    await page.waitForURL(/\/outbox\/[^/]+$/);
    await page.waitForLoadState('load');
    assert.equal(await page.locator('h1#subject').textContent(), SUBJECT);
    assert.equal(await page.locator('#text-body').textContent(), 'Plain <text> part');
    const frame = page.locator('iframe#html-body');
    assert.equal(await frame.getAttribute('sandbox'), '');
    await visible(page.frameLocator('iframe#html-body').locator('b#bold'), 'the HTML part, rendered');
    assert.equal(
      await page.frameLocator('iframe#html-body').locator('b#bold').textContent(),
      'from the sandbox',
    );

    assert.deepEqual(dialogs, [], 'no script of the message ran');
    // Chromium says why: the iframe's sandbox blocked the script, the policy blocked the remote image.
    assert.ok(
      problems.some((p) => /Blocked script execution in 'about:srcdoc'.*sandboxed/.test(p)),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => /Loading the image .* violates .*img-src/.test(p)),
      problems.join('\n'),
    );
    assert.deepEqual(
      problems.filter((p) => !/about:srcdoc|img-src/.test(p)),
      [],
      'nothing else went wrong on the message page',
    );
  },
);

test(
  'without JavaScript the page is complete and reloads itself (meta refresh)',
  { skip, timeout: 30_000 },
  async () => {
    const context = await browser.newContext({ viewport: VIEWPORT, javaScriptEnabled: false });
    try {
      const noJs = await context.newPage();
      await noJs.goto(`http://127.0.0.1:${gw.httpPort}/`);
      assert.equal(await noJs.locator('#workers-body tr').count(), 2, 'server-rendered workers');
      assert.equal(await noJs.locator('#outbox-body tr.message td.subject').first().textContent(), SUBJECT);
      const refresh = await noJs.locator('meta[http-equiv="refresh"]').getAttribute('content');
      assert.ok(Number(refresh) > 0, `refresh every ${refresh} s`);
      const first = await noJs.locator('#generated-at').textContent();
      // The reload is a navigation of the main frame: wait for it (bounded), then a newer snapshot shows.
      await noJs.waitForEvent('framenavigated', { timeout: (Number(refresh) + 5) * 1000 });
      await noJs.waitForLoadState('load');
      assert.notEqual(await noJs.locator('#generated-at').textContent(), first);
    } finally {
      await context.close();
    }
  },
);
