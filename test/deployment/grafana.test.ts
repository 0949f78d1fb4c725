/**
 * Every metric a dashboard panel or an alert rule queries must be one the gateway
 * exports: the known set comes from the gateway's own registries (worker and primary,
 * default process metrics included, histograms expanded to _bucket/_sum/_count), the
 * names in use from a PromQL tokenizer (promql.ts). Plus the dashboard's structure.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { workerRegistry } from '../../src/metrics/worker-metrics.ts';
import { primaryRegistry } from '../../src/metrics/primary-metrics.ts';
import { REPO_ROOT } from './dockerfile.ts';
import { metricNames } from './promql.ts';

type Obj = Record<string, unknown>;
interface Target {
  refId?: string;
  expr?: string;
  datasource?: unknown;
}
interface Panel {
  id?: number;
  type: string;
  title: string;
  datasource?: { uid?: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  panels?: Panel[];
}

const dashboard = JSON.parse(
  readFileSync(join(REPO_ROOT, 'deployment/grafana/smtp-gateway-dashboard.json'), 'utf8'),
) as Obj & { panels: Panel[]; templating: { list: (Obj & { query?: unknown })[] } };
const allPanels = (ps: Panel[]): Panel[] => ps.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
const panels = allPanels(dashboard.panels);
const queryPanels = panels.filter((p) => p.type !== 'row');
const alertExprs = (
  parse(readFileSync(join(REPO_ROOT, 'deployment/prometheus/alerts.yaml'), 'utf8')) as {
    groups: { rules: { alert?: string; record?: string; expr: string }[] }[];
  }
).groups.flatMap((g) => g.rules.map((r) => ({ name: r.alert ?? r.record ?? '?', expr: r.expr })));

/** Series names Prometheus itself attaches to every target. */
const PROMETHEUS_GENERATED = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);

async function exportedNames(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const registry of [workerRegistry, primaryRegistry]) {
    for (const m of await registry.getMetricsAsJSON()) {
      names.add(m.name);
      const type = String(m.type);
      if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
      if (type === 'summary') for (const s of ['_sum', '_count']) names.add(m.name + s);
    }
  }
  return names;
}

/** `label_values(<series selector>, <label>)` → the selector; other variable queries as they are. */
function variableExpr(query: unknown): string | undefined {
  const q = typeof query === 'string' ? query : (query as Obj | undefined)?.['query'];
  if (typeof q !== 'string' || q === 'prometheus') return undefined;
  const m = /^label_values\((.*),\s*\w+\)$/s.exec(q.trim());
  return m ? m[1] : q;
}

describe('PromQL tokenizer', () => {
  it('keeps metric names and drops functions, labels, strings, ranges, groupings, keywords and variables', () => {
    assert.deepEqual(
      metricNames(
        'histogram_quantile(0.99, sum by (le, endpoint) (rate(cakemail_api_request_duration_seconds_bucket{job="$job", outcome=~"ok|timeout"}[$__rate_interval])))',
      ),
      ['cakemail_api_request_duration_seconds_bucket'],
    );
    assert.deepEqual(
      metricNames(
        'sum without (instance) (rate(a_total[5m] offset 1h)) / on (job) group_left (x) b unless (c > bool 0.5e3)',
      ),
      ['a_total', 'b', 'c'],
    );
    assert.deepEqual(metricNames('label_replace(up, "dst_metric", "$1", "src", "(x_total)")'), ['up']);
    assert.deepEqual(metricNames('min(x) - time() < 14 * 86400 >= 3 * 86400'), ['x']);
    assert.deepEqual(metricNames('absent(up{job="smtp-gateway"} == 1)'), ['up']);
    assert.deepEqual(metricNames('sum(rate(m[5m:1m])) and on() vector(1)'), ['m']);
    assert.deepEqual(metricNames('max_over_time(${metric}[1h]) or nothing_here'), ['nothing_here']);
  });

  it('rejects an unknown function, so a misspelt one cannot pass as a metric', () => {
    assert.throws(
      () => metricNames('histogram_quantil(0.99, x_bucket)'),
      /unknown PromQL function histogram_quantil/,
    );
  });
});

describe('metric names', () => {
  it('the known set comes from the gateway registries, histograms expanded', async () => {
    const known = await exportedNames();
    for (const n of [
      'smtp_connections_total',
      'cakemail_api_request_duration_seconds_bucket',
      'cakemail_api_request_duration_seconds_count',
      'gateway_tls_certificate_expiry_timestamp_seconds',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_p99_seconds',
      'gateway_primary_process_resident_memory_bytes',
    ]) {
      assert.ok(known.has(n), n);
    }
    assert.ok(!known.has('cakemail_api_request_duration_seconds'.replace('seconds', 'ms')));
  });

  it('every dashboard query uses only metrics the gateway exports', async () => {
    const known = await exportedNames();
    const unknown: string[] = [];
    for (const p of queryPanels) {
      for (const t of p.targets ?? []) {
        for (const n of metricNames(t.expr ?? ''))
          if (!known.has(n) && !PROMETHEUS_GENERATED.has(n)) unknown.push(`${p.title}: ${n}`);
      }
    }
    for (const v of dashboard.templating.list) {
      const expr = variableExpr(v['query']);
      if (expr)
        for (const n of metricNames(expr))
          if (!known.has(n)) unknown.push(`variable ${String(v['name'])}: ${n}`);
    }
    assert.deepEqual(unknown, []);
  });

  it('every alert rule uses only metrics the gateway exports', async () => {
    const known = await exportedNames();
    const unknown = alertExprs.flatMap((r) =>
      metricNames(r.expr)
        .filter((n) => !known.has(n) && !PROMETHEUS_GENERATED.has(n))
        .map((n) => `${r.name}: ${n}`),
    );
    assert.deepEqual(unknown, []);
    assert.ok(alertExprs.length >= 10);
  });

  it('every metric the gateway defines (beyond process defaults) is on the dashboard', async () => {
    const used = new Set(
      queryPanels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNames(t.expr ?? ''))),
    );
    const base = (n: string): string => n.replace(/_(bucket|sum|count)$/, '');
    const usedBases = new Set([...used].map(base));
    const own = [
      ...(await workerRegistry.getMetricsAsJSON())
        .map((m) => m.name)
        .filter((n) => /^(smtp|cakemail)_/.test(n)),
      ...(await primaryRegistry.getMetricsAsJSON())
        .map((m) => m.name)
        .filter((n) => /^gateway_(?!primary_)/.test(n)),
    ];
    assert.ok(own.length > 20);
    assert.deepEqual(
      own.filter((n) => !used.has(n) && !usedBases.has(n)),
      [],
      'add a panel for each new metric (deployment/grafana/smtp-gateway-dashboard.json)',
    );
  });
});

describe('dashboard structure', () => {
  it('is importable: uid, title, schemaVersion, a Prometheus datasource variable used by every panel', () => {
    assert.equal(dashboard['uid'], 'smtp-gateway');
    assert.equal(typeof dashboard['title'], 'string');
    assert.ok(Number(dashboard['schemaVersion']) >= 36);
    const ds = dashboard.templating.list.find((v) => v['type'] === 'datasource');
    assert.equal(ds?.['query'], 'prometheus');
    for (const p of queryPanels) assert.equal(p.datasource?.uid, `\${${String(ds?.['name'])}}`, p.title);
  });

  it('panels have unique ids, fit the 24-column grid without overlapping, and every query has a refId', () => {
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const p of panels) assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, p.title);
    for (const a of panels) {
      for (const b of panels) {
        if (a === b) continue;
        const overlap =
          a.gridPos.x < b.gridPos.x + b.gridPos.w &&
          b.gridPos.x < a.gridPos.x + a.gridPos.w &&
          a.gridPos.y < b.gridPos.y + b.gridPos.h &&
          b.gridPos.y < a.gridPos.y + a.gridPos.h;
        assert.ok(!overlap, `${a.title} overlaps ${b.title}`);
      }
    }
    for (const p of queryPanels) {
      assert.ok((p.targets ?? []).length > 0, `${p.title} has no query`);
      const refs = (p.targets ?? []).map((t) => t.refId);
      assert.equal(new Set(refs).size, refs.length, p.title);
      for (const t of p.targets ?? []) assert.match(t.expr ?? '', /\S/);
    }
  });

  it('shows what operators need: sessions, admission, outcomes, replies, AUTH, API, breaker, workers, lag, memory, certificate', () => {
    const used = new Set(
      queryPanels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNames(t.expr ?? ''))),
    );
    for (const n of [
      'smtp_connections_total',
      'smtp_active_connections',
      'smtp_connection_admission_seconds_bucket',
      'smtp_emails_received_total',
      'smtp_replies_total',
      'smtp_auth_failures_total',
      'cakemail_api_request_duration_seconds_bucket',
      'cakemail_api_request_duration_seconds_count',
      'cakemail_circuit_breaker_state',
      'gateway_workers',
      'gateway_worker_restarts_total',
      'nodejs_eventloop_lag_p99_seconds',
      'process_resident_memory_bytes',
      'gateway_tls_certificate_expiry_timestamp_seconds',
    ]) {
      assert.ok(used.has(n), n);
    }
    const latency = queryPanels.find((p) => p.title === 'API latency by endpoint');
    assert.deepEqual(
      latency?.targets?.map(
        (t) => /histogram_quantile\((0\.\d+),\s*sum by \(endpoint, le\)/.exec(t.expr ?? '')?.[1],
      ),
      ['0.5', '0.99'],
    );
  });
});
