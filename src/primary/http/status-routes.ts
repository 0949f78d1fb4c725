/**
 * The operator's status page on the HTTP port:
 *   GET /              server-rendered HTML, refreshed live by a tiny inline script
 *   GET /status.json   the same snapshot as data, plus the view the script applies
 *   GET /outbox/:id    one message of the sandbox outbox (only when the sandbox is the upstream)
 * The snapshot behind them is computed at most once a second (status-snapshot.ts), and
 * its HTML/JSON renderings once per snapshot, however many browsers are open.
 */
import type { Express, Response } from 'express';
import { MESSAGE_CSP, STATUS_CSP, escapeHtml, renderMessagePage, renderStatusPage } from './status-page.ts';
import { StatusSource, type StatusDeps, type StatusSnapshot } from './status-snapshot.ts';
import { buildView } from './status-view.ts';

export type { StatusDeps } from './status-snapshot.ts';

const COMMON_HEADERS = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

export function mountStatusRoutes(app: Express, deps: StatusDeps): void {
  const source = new StatusSource(deps);
  const rendered = new WeakMap<StatusSnapshot, { html?: string; json?: string }>();
  const renderings = (s: StatusSnapshot) => {
    let r = rendered.get(s);
    if (!r) rendered.set(s, (r = {}));
    return r;
  };

  app.get('/', async (_req, res) => {
    const snapshot = await source.get();
    const r = renderings(snapshot);
    r.html ??= renderStatusPage(buildView(snapshot), deps.config.SMTP_HOSTNAME);
    res
      .set({ ...COMMON_HEADERS, 'Content-Security-Policy': STATUS_CSP })
      .type('html')
      .send(r.html);
  });

  app.get('/status.json', async (_req, res) => {
    const snapshot = await source.get();
    const r = renderings(snapshot);
    r.json ??= JSON.stringify({ ...snapshot, view: buildView(snapshot) });
    res.set(COMMON_HEADERS).type('json').send(r.json);
  });

  app.get('/outbox/:id', async (req, res) => {
    const outbox = source.outbox;
    if (!outbox) return notFound(res, 'The upstream is not the sandbox: there is no outbox to show.');
    const id = String(req.params.id);
    // A link from a page older than the last refresh: one refresh (cached, shared) may bring it.
    const message = outbox.byId(id) ?? (await source.get(), outbox.byId(id));
    if (!message) return notFound(res, 'This message is not among the last ones the status page keeps.');
    res
      .set({ ...COMMON_HEADERS, 'Content-Security-Policy': MESSAGE_CSP })
      .type('html')
      .send(renderMessagePage(message));
  });
}

function notFound(res: Response, why: string): void {
  res
    .status(404)
    .set({ ...COMMON_HEADERS, 'Content-Security-Policy': MESSAGE_CSP })
    .type('html')
    .send(
      `<!doctype html><meta charset="utf-8"><title>Not found</title><p>${escapeHtml(why)}</p><p><a href="/">← status</a></p>`,
    );
}
