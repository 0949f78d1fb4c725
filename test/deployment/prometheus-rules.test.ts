/**
 * deployment/prometheus/alerts.yaml: `promtool check rules`, `promtool test rules` on
 * alerts.test.yaml (each alert shown firing and not firing), the two copies the chart and
 * the kustomize base carry, and a runbook section per alert in docs/operations.md.
 * Metric names in the expressions are checked against the gateway in grafana.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from './dockerfile.ts';
import {
  ALERTS_PATH,
  HELM_ALERTS_PATH,
  KUSTOMIZE_RULE_PATH,
  renderKustomizePrometheusRule,
} from './sync-alerts.ts';
import { PROMTOOL, runTool, skipWithoutPromtool } from './tools.ts';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface AlertTest {
  alertname: string;
  eval_time: string;
  exp_alerts?: unknown[];
}

const TEST_PATH = join(REPO_ROOT, 'deployment/prometheus/alerts.test.yaml');
const alertsText = readFileSync(ALERTS_PATH, 'utf8');
const rules = (parse(alertsText) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap(
  (g) => g.rules,
);
const alerts = rules.filter((r) => r.alert !== undefined);
const tests = (
  parse(readFileSync(TEST_PATH, 'utf8')) as { tests: { alert_rule_test?: AlertTest[] }[] }
).tests.flatMap((t) => t.alert_rule_test ?? []);

describe('promtool', { skip: skipWithoutPromtool }, () => {
  it('check rules: the file is valid and holds every rule', async () => {
    const r = await runTool(PROMTOOL as string, ['check', 'rules', ALERTS_PATH]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
  });

  it('check rules fails on a broken expression (the check is real)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rules-'));
    try {
      const broken = join(dir, 'broken.yaml');
      await writeFile(
        broken,
        'groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: sum(rate(up[5m]) >\n',
      );
      const r = await runTool(PROMTOOL as string, ['check', 'rules', broken]);
      assert.notEqual(r.code, 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('test rules: every unit test in alerts.test.yaml passes', async () => {
    const r = await runTool(
      PROMTOOL as string,
      ['test', 'rules', 'alerts.test.yaml'],
      join(REPO_ROOT, 'deployment/prometheus'),
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  });

  it('test rules fails when an expectation is wrong (the tests are real)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rules-'));
    try {
      await writeFile(join(dir, 'alerts.yaml'), alertsText);
      const wrong = readFileSync(TEST_PATH, 'utf8').replace('expires in 9d 23h 50m 0s', 'expires in 30d');
      await writeFile(join(dir, 'alerts.test.yaml'), wrong);
      const r = await runTool(PROMTOOL as string, ['test', 'rules', 'alerts.test.yaml'], dir);
      assert.notEqual(r.code, 0);
      assert.match(r.stdout + r.stderr, /SmtpTlsCertificateExpiringSoon/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('alert rules', () => {
  it('cover what the gateway can get wrong', () => {
    assert.deepEqual(alerts.map((a) => a.alert).sort(), [
      'CakemailApiErrorRate',
      'CakemailApiErrorRateCritical',
      'CakemailApiLatencyHigh',
      'CakemailCircuitBreakerOpen',
      'SmtpAuthFailureSpike',
      'SmtpConnectionsRefused',
      'SmtpGatewayAbsent',
      'SmtpGatewayDown',
      'SmtpGatewayEventLoopLag',
      'SmtpGatewayNotReady',
      'SmtpGatewayWorkerCrashLooping',
      'SmtpGatewayWorkerRestarts',
      'SmtpHighRejectionRate',
      'SmtpHighTemporaryFailureRate',
      'SmtpSharedStateDegraded',
      'SmtpTlsCertificateExpiringSoon',
      'SmtpTlsCertificateExpiryCritical',
      'SmtpTlsReloadFailed',
    ]);
  });

  it('key expressions are the agreed ones', () => {
    const expr = (name: string): string =>
      (alerts.find((a) => a.alert === name)?.expr ?? '').replace(/\s+/g, ' ').trim();
    assert.match(expr('SmtpGatewayDown'), /^up\{job="smtp-gateway"\} == 0$/);
    assert.match(expr('SmtpGatewayAbsent'), /^absent\(up\{job="smtp-gateway"\} == 1\)$/);
    assert.match(
      expr('SmtpGatewayWorkerRestarts'),
      /increase\(gateway_worker_restarts_total\{reason="crash"\}\[10m\]\) > 3/,
    );
    assert.match(expr('SmtpGatewayWorkerCrashLooping'), /gateway_workers\{state="crashlooping"\}\) > 0/);
    assert.match(expr('CakemailCircuitBreakerOpen'), /\(cakemail_circuit_breaker_state\) == 2$/);
    assert.match(expr('SmtpTlsCertificateExpiringSoon'), /- time\(\)\) < 14 \* 86400 >= 3 \* 86400$/);
    assert.match(expr('SmtpTlsCertificateExpiryCritical'), /- time\(\)\) < 3 \* 86400$/);
    assert.match(expr('SmtpSharedStateDegraded'), /\(gateway_shared_state_degraded\) == 1$/);
    // Wrong passwords and bad content are the clients' doing, not an upstream failure.
    assert.match(expr('CakemailApiErrorRate'), /outcome=~"throttled\|unavailable\|timeout\|ambiguous"/);
    assert.doesNotMatch(expr('CakemailApiErrorRate'), /credentials|validation/);
  });

  for (const a of alerts) {
    it(`${String(a.alert)}: severity, summary, description and a runbook section in docs/operations.md`, () => {
      assert.ok(['warning', 'critical'].includes(a.labels?.['severity'] ?? ''), 'severity warning|critical');
      assert.ok((a.annotations?.['summary'] ?? '').length > 10);
      assert.ok((a.annotations?.['description'] ?? '').length > 20);
      const anchor = String(a.alert).toLowerCase();
      assert.equal(a.annotations?.['runbook'], `docs/operations.md#${anchor}`);
      const docs = readFileSync(join(REPO_ROOT, 'docs/operations.md'), 'utf8');
      assert.match(
        docs,
        new RegExp(`^#{3,4} ${String(a.alert)}$`, 'm'),
        'a heading GitHub anchors as #' + anchor,
      );
    });

    it(`${String(a.alert)}: unit-tested both firing and silent`, () => {
      const mine = tests.filter((t) => t.alertname === a.alert);
      assert.ok(
        mine.some((t) => (t.exp_alerts ?? []).length > 0),
        'a test where it fires',
      );
      assert.ok(
        mine.some((t) => (t.exp_alerts ?? []).length === 0),
        'a test where it stays silent',
      );
    });
  }
});

describe('copies of the rules', () => {
  it('the Helm chart ships alerts.yaml byte for byte (node test/deployment/sync-alerts.ts)', () => {
    assert.equal(readFileSync(HELM_ALERTS_PATH, 'utf8'), alertsText);
    const template = readFileSync(
      join(REPO_ROOT, 'deployment/helm/smtp-gateway/templates/prometheusrule.yaml'),
      'utf8',
    );
    assert.match(template, /^spec:\n {2}\{\{- \.Files\.Get "files\/alerts\.yaml" \| nindent 2 \}\}$/m);
  });

  it('the kustomize PrometheusRule wraps the same groups (node test/deployment/sync-alerts.ts)', () => {
    const text = readFileSync(KUSTOMIZE_RULE_PATH, 'utf8');
    assert.equal(text, renderKustomizePrometheusRule(alertsText));
    assert.deepEqual((parse(text) as { spec: unknown }).spec, parse(alertsText));
  });
});
