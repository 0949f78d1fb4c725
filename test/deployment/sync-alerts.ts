/**
 * deployment/prometheus/alerts.yaml is the one source of the alert rules; two copies
 * exist because Helm and kustomize can only read files inside their own directories:
 *   - deployment/helm/smtp-gateway/files/alerts.yaml (byte-identical, read by .Files.Get)
 *   - deployment/kubernetes/prometheusrule.yaml (the groups wrapped in a PrometheusRule)
 * The tests compare both with what this module renders; after editing the rules run
 *   node test/deployment/sync-alerts.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const at = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url));

export const ALERTS_PATH = at('deployment/prometheus/alerts.yaml');
export const HELM_ALERTS_PATH = at('deployment/helm/smtp-gateway/files/alerts.yaml');
export const KUSTOMIZE_RULE_PATH = at('deployment/kubernetes/prometheusrule.yaml');

/** The kustomize PrometheusRule: metadata, then alerts.yaml from `groups:` on, indented under spec. */
export function renderKustomizePrometheusRule(alerts = readFileSync(ALERTS_PATH, 'utf8')): string {
  const lines = alerts.split('\n');
  const start = lines.findIndex((l) => l.startsWith('groups:'));
  if (start < 0) throw new Error('alerts.yaml has no top-level groups:');
  const body = lines
    .slice(start)
    .map((l) => (l === '' ? '' : `  ${l}`))
    .join('\n');
  return [
    '# GENERATED from deployment/prometheus/alerts.yaml by `node test/deployment/sync-alerts.ts`: do not edit.',
    'apiVersion: monitoring.coreos.com/v1',
    'kind: PrometheusRule',
    'metadata:',
    '  name: smtp-gateway',
    '  labels:',
    '    app.kubernetes.io/name: smtp-gateway',
    '    app.kubernetes.io/instance: smtp-gateway',
    "    app.kubernetes.io/version: '0.1.0'",
    '    app.kubernetes.io/managed-by: kustomize',
    '    release: kube-prometheus-stack',
    'spec:',
    body,
  ].join('\n');
}

if (import.meta.main) {
  const alerts = readFileSync(ALERTS_PATH, 'utf8');
  writeFileSync(HELM_ALERTS_PATH, alerts);
  writeFileSync(KUSTOMIZE_RULE_PATH, renderKustomizePrometheusRule(alerts));
  console.log(`wrote ${HELM_ALERTS_PATH}\nwrote ${KUSTOMIZE_RULE_PATH}`);
}
