/** GET / — a plain server-rendered status page for operators (auto-refreshing). */
import type { Express } from 'express';
import type { Config } from '../../config/schema.ts';
import type { ConnectionTable } from '../admission.ts';
import type { Supervisor } from '../supervisor.ts';
import type { MetricsAggregator } from './metrics-aggregator.ts';

export interface StatusDeps {
  supervisor: Supervisor;
  table: ConnectionTable;
  metrics: MetricsAggregator;
  sandboxUrl: string | undefined;
  config: Config;
}

const escape = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function mountStatusRoutes(app: Express, deps: StatusDeps): void {
  app.get('/', (_req, res) => {
    const rows = deps.supervisor
      .slotStates()
      .map(
        (s) =>
          `<tr><td>${s.slot}</td><td class="state-${escape(s.state)}">${escape(s.state)}</td><td>${escape(s.pid ?? '')}</td><td>${s.generation}</td><td>${s.restarts}</td></tr>`,
      )
      .join('');
    res.type('html')
      .send(`<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>Cakemail SMTP gateway</title></head><body>
<h1>Cakemail SMTP gateway</h1>
<p>Upstream: ${deps.sandboxUrl ? 'sandbox ' + escape(deps.sandboxUrl) : escape(deps.config.CAKEMAIL_API_URL)}</p>
<p>Open connections: <span id="connections">${deps.table.total}</span></p>
<table id="workers"><thead><tr><th>slot</th><th>state</th><th>pid</th><th>generation</th><th>crashes (60 s)</th></tr></thead><tbody>${rows}</tbody></table>
</body></html>`);
  });
}
