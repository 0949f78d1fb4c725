/**
 * The status page's HTML: server-rendered, no external asset, inline CSS, and a small
 * inline script that polls /status.json every 2 s and applies the view with textContent
 * (without JavaScript a <noscript> meta refresh reloads the page instead). A strict
 * Content-Security-Policy allows exactly that script (by hash) and nothing remote.
 */
import { createHash } from 'node:crypto';
import type { OutboxMessage } from './status-outbox.ts';
import {
  ERROR_COLUMNS,
  OUTBOX_COLUMNS,
  RATE_COLUMNS,
  WORKER_COLUMNS,
  formatTime,
  type Row,
  type StatusView,
} from './status-view.ts';

export const REFRESH_MS = 2_000;

/** Text and attribute contexts alike: every character that could end either is an entity. */
export const escapeHtml = (s: unknown): string =>
  String(s).replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);

const CSS = `
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--mut:#667;--line:#d8dde3;--ok:#1a7f37;--bad:#c62828;--warn:#9a6700;--head:#f3f5f7}
@media (prefers-color-scheme:dark){:root{--bg:#14171a;--fg:#e6e8ea;--mut:#9aa3ad;--line:#2d333b;--head:#1d2227}}
*{box-sizing:border-box}body{margin:0;padding:1.25rem 1.5rem;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:.75rem 1.5rem;margin-bottom:1rem}
h1{font-size:1.35rem;margin:0}h2{font-size:1.05rem;margin:0 0 .5rem}
.muted,.empty{color:var(--mut)}section{margin:0 0 1.5rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:1.5rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--head);font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.subject,td.to,td.from{overflow-wrap:anywhere}
.badge{display:inline-block;padding:.05rem .55rem;border-radius:1rem;font-weight:600;border:1px solid currentColor}
.ok,.state-listening{color:var(--ok)}.bad,.state-crashlooping,.level-fatal{color:var(--bad)}
.warn,.state-backoff,.state-starting,.state-draining{color:var(--warn)}
.big{font-size:1.6rem;font-weight:600;font-variant-numeric:tabular-nums}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}dt{color:var(--mut)}dd{margin:0;overflow-wrap:anywhere}
#stale{color:var(--bad)}pre{white-space:pre-wrap;overflow-wrap:anywhere;background:var(--head);padding:.75rem;border-radius:4px}
iframe{width:100%;min-height:420px;border:1px solid var(--line);background:#fff}
`;

// Plain ES5-ish on purpose: no build step, nothing a browser could miss.
const SCRIPT = `(function () {
  var stale = document.getElementById('stale');
  function cell(c) {
    var td = document.createElement('td');
    if (c.cls) td.className = c.cls;
    if (c.span) td.colSpan = c.span;
    if (c.href && c.href.charAt(0) === '/') {
      var a = document.createElement('a');
      a.href = c.href;
      a.textContent = c.text;
      td.appendChild(a);
    } else td.textContent = c.text;
    return td;
  }
  function apply(v) {
    var id, el;
    for (id in v.fields) if ((el = document.getElementById(id))) el.textContent = v.fields[id];
    for (id in v.classes) if ((el = document.getElementById(id))) el.className = v.classes[id];
    for (id in v.tables) {
      if (!(el = document.getElementById(id))) continue;
      var frag = document.createDocumentFragment();
      v.tables[id].forEach(function (r) {
        var tr = document.createElement('tr');
        if (r.cls) tr.className = r.cls;
        r.cells.forEach(function (c) { tr.appendChild(cell(c)); });
        frag.appendChild(tr);
      });
      el.replaceChildren(frag);
    }
  }
  function tick() {
    fetch('/status.json', { cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(function (s) { apply(s.view); stale.textContent = ''; })
      .catch(function (e) { stale.textContent = 'not refreshing: ' + e.message; })
      .then(function () { setTimeout(tick, ${REFRESH_MS}); });
  }
  setTimeout(tick, ${REFRESH_MS});
})();`;

const SCRIPT_HASH = createHash('sha256').update(SCRIPT).digest('base64');

/** The status page's policy: its own script and styles, fetches to itself, nothing else. */
export const STATUS_CSP = [
  "default-src 'none'",
  `script-src 'sha256-${SCRIPT_HASH}'`,
  "style-src 'unsafe-inline'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * A message's page: no script at all; the email's HTML goes into a sandboxed iframe
 * (srcdoc, no allow-* token: no script, no form, no navigation of this page, opaque
 * origin) and inherits this policy, so it cannot load anything remote (no tracking pixel).
 */
export const MESSAGE_CSP = [
  "default-src 'none'",
  "style-src 'unsafe-inline'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function rowsHtml(rows: Row[]): string {
  return rows
    .map(
      (r) =>
        `<tr${r.cls ? ` class="${escapeHtml(r.cls)}"` : ''}>${r.cells
          .map((c) => {
            const attrs = `${c.cls ? ` class="${escapeHtml(c.cls)}"` : ''}${c.span ? ` colspan="${c.span}"` : ''}`;
            const inner = c.href
              ? `<a href="${escapeHtml(c.href)}">${escapeHtml(c.text)}</a>`
              : escapeHtml(c.text);
            return `<td${attrs}>${inner}</td>`;
          })
          .join('')}</tr>`,
    )
    .join('');
}

function tableHtml(id: string, columns: string[], rows: Row[] | undefined): string {
  const head = columns.map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join('');
  return `<table id="${id}"><thead><tr>${head}</tr></thead><tbody id="${id}-body">${rowsHtml(rows ?? [])}</tbody></table>`;
}

function page(title: string, head: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><link rel="icon" href="data:,">${head}<style>${CSS}</style></head>
<body>${body}</body></html>`;
}

export function renderStatusPage(v: StatusView, hostname: string): string {
  const f = (id: string, cls = '') => {
    const c = v.classes[id] ?? cls;
    return `<span id="${id}"${c ? ` class="${escapeHtml(c)}"` : ''}>${escapeHtml(v.fields[id] ?? '')}</span>`;
  };
  const outbox =
    v.tables['outbox-body'] === undefined
      ? ''
      : `<section id="outbox-section"><h2>Sandbox outbox</h2>
<p class="muted">What Cakemail would have sent (the sandbox is the upstream). ${f('outbox-error', 'bad')}</p>
${tableHtml('outbox', OUTBOX_COLUMNS, v.tables['outbox-body'])}</section>`;
  return page(
    `SMTP gateway status — ${hostname}`,
    `<noscript><meta http-equiv="refresh" content="${Math.round((REFRESH_MS * 2.5) / 1000)}"></noscript>`,
    `<header><h1>Cakemail SMTP gateway</h1>${f('readiness')}
<span class="muted">${escapeHtml(hostname)} · updated ${f('generated-at')}</span><span id="stale"></span></header>
<div class="grid">
<section id="workers-section"><h2>Workers <span class="muted">${f('workers-summary')}</span></h2>
${tableHtml('workers', WORKER_COLUMNS, v.tables['workers-body'])}</section>
<section id="traffic-section"><h2>Traffic</h2>
<p>Open SMTP connections: <span class="big">${f('connections')}</span></p>
<p class="muted">Messages received, by the reply class the client got, ${f('rate-window')}</p>
${tableHtml('rates', RATE_COLUMNS, v.tables['rates-body'])}</section>
<section id="upstream-section"><h2>Upstream</h2><dl>
<dt>API</dt><dd>${f('upstream-url')}</dd>
<dt>Circuit breaker</dt><dd>${f('breaker')}</dd>
<dt>API error ratio</dt><dd>${f('api-error-ratio')}</dd>
<dt>API calls</dt><dd>${f('api-calls', 'muted')}</dd></dl>
<p class="muted">Errors: 5xx, throttling, timeouts and unanswered calls (a wrong password is not one).</p></section>
</div>
<section id="errors-section"><h2>Recent errors</h2>
${tableHtml('errors', ERROR_COLUMNS, v.tables['errors-body'])}</section>
${outbox}
<script>${SCRIPT}</script>`,
  );
}

export function renderMessagePage(m: OutboxMessage): string {
  const row = (k: string, val: string, cls = '') =>
    `<dt>${escapeHtml(k)}</dt><dd${cls ? ` class="${cls}"` : ''}>${escapeHtml(val)}</dd>`;
  const html =
    m.html === undefined
      ? '<p class="muted">No HTML part.</p>'
      : // srcdoc is an attribute: escaping it is exactly what makes the browser parse the
        // email as a separate document, inside the sandbox, and never as part of this page.
        `<iframe id="html-body" title="HTML part" sandbox referrerpolicy="no-referrer" srcdoc="${escapeHtml(m.html)}"></iframe>`;
  return page(
    `Message ${m.id}`,
    '',
    `<p><a href="/">← status</a></p>
<h1 id="subject">${escapeHtml(m.subject)}</h1>
<section><dl>
${row('Time', formatTime(m.receivedAt))}
${row('From', m.senderName ? `${m.senderName} (sender ${m.senderId})` : `sender ${m.senderId}`, 'from')}
${row('To', m.to, 'to')}
${row('SMTP user', `${m.username} (account ${m.accountId})`)}
${row('Type', m.type)}
${row('Attachments', m.attachments.length ? m.attachments.join(', ') : 'none')}
${row('Sandbox id', m.id)}</dl>
${m.truncated ? '<p class="muted">Bodies truncated for display.</p>' : ''}</section>
<section><h2>Text part</h2>${m.text === undefined ? '<p class="muted">No text part.</p>' : `<pre id="text-body">${escapeHtml(m.text)}</pre>`}</section>
<section><h2>HTML part <span class="muted">(sandboxed: no script, no remote content)</span></h2>${html}</section>`,
  );
}
