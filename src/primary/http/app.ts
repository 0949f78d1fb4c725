/**
 * The primary's HTTP surface (its own port, never the SMTP one):
 *   GET /health/live   the primary's event loop answers
 *   GET /health/ready  every worker slot listens and we are not draining (else 503 + reason)
 *   GET /metrics       aggregated from every worker + the primary's own metrics
 *   GET /              status page (src/primary/http/status-page.ts)
 */
import { STATUS_CODES } from 'node:http';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from '../../log.ts';
import type { MetricsAggregator } from './metrics-aggregator.ts';

export interface HttpDeps {
  readiness(): { ready: boolean; reason?: string };
  metrics: MetricsAggregator;
  log: Logger;
  /** Extra routers mounted last (status page, sandbox outbox view). */
  extraRoutes?: (app: Express) => void;
}

/** Errors Express and its parsers raise carry the HTTP status they call for (http-errors). */
type HttpError = Error & { status?: unknown; statusCode?: unknown };

export function createHttpApp(deps: HttpDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/health/live', (_req, res) => {
    res.json({ status: 'ok', check: 'liveness' });
  });

  app.get('/health/ready', (_req, res) => {
    const { ready, reason } = deps.readiness();
    if (ready) res.json({ status: 'ok', check: 'readiness' });
    else res.status(503).json({ status: 'unavailable', check: 'readiness', reason });
  });

  app.get('/metrics', async (_req, res) => {
    const { contentType, body } = await deps.metrics.render();
    res.set('Content-Type', contentType).send(body);
  });

  deps.extraRoutes?.(app);

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  // Express 5 forwards rejected handler promises here, and its own request errors.
  app.use((err: HttpError, req: Request, res: Response, _next: NextFunction) => {
    const status = err.status ?? err.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      // The client's request is at fault (a malformed %-escape in a path parameter, ...):
      // not an error of ours, so neither an error line nor an entry on the status page,
      // which anyone reaching this port could otherwise flood.
      if (!res.headersSent) res.status(status).json({ error: STATUS_CODES[status] ?? 'bad request' });
      return;
    }
    deps.log.error({ event: 'http.error', path: req.path, err: err.message }, 'HTTP handler failed');
    if (!res.headersSent) res.status(503).json({ error: 'temporarily unavailable' });
  });
  return app;
}
