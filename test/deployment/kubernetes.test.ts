/**
 * deployment/kubernetes (the kustomize base, equal to the chart's production render):
 * rendered by `kubectl kustomize`, validated against the Kubernetes / Prometheus Operator
 * models (schemas and exact field names), and checked for the operational facts the
 * gateway depends on: probes, drain timing, hardening, TLS directory mount, wiring.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT, imageEnv } from './dockerfile.ts';
import { typecheckManifests, validateModel } from './k8s-models.ts';
import { renderKustomize, skipWithoutKubectl } from './tools.ts';
import { CONFIG_VARIABLES } from '../../src/config/schema.ts';

type Obj = Record<string, unknown>;
const get = (o: unknown, path: string): unknown =>
  path
    .split('.')
    .reduce<unknown>((cur, k) => (cur !== null && typeof cur === 'object' ? (cur as Obj)[k] : undefined), o);
const subsetOf = (selector: unknown, labels: unknown): boolean =>
  typeof selector === 'object' &&
  selector !== null &&
  Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([k, v]) => (labels as Obj | undefined)?.[k] === v);

describe('kustomize base', { skip: skipWithoutKubectl }, () => {
  let docs: Obj[] = [];
  const one = (kind: string, name?: string): Obj => {
    const found = docs.filter(
      (d) => d['kind'] === kind && (name === undefined || get(d, 'metadata.name') === name),
    );
    assert.equal(found.length, 1, `${kind} ${name ?? ''}`);
    return found[0] as Obj;
  };
  let deployment: Obj;
  let pod: Obj;
  let container: Obj;
  let config: Obj;
  const envOf = (name: string): Obj | undefined =>
    (container['env'] as Obj[]).find((e) => e['name'] === name);

  before(async () => {
    docs = await renderKustomize(join(REPO_ROOT, 'deployment/kubernetes'));
    deployment = one('Deployment');
    pod = get(deployment, 'spec.template') as Obj;
    container = (get(pod, 'spec.containers') as Obj[])[0] as Obj;
    config = get(one('ConfigMap'), 'data') as Obj;
  });

  it('renders every object once, all in one namespace', () => {
    assert.deepEqual(
      docs.map((d) => `${String(d['kind'])}/${String(get(d, 'metadata.name'))}`).sort(),
      [
        'ConfigMap/' + String(get(one('ConfigMap'), 'metadata.name')),
        'Deployment/smtp-gateway',
        'HorizontalPodAutoscaler/smtp-gateway',
        'NetworkPolicy/smtp-gateway',
        'PodDisruptionBudget/smtp-gateway',
        'PrometheusRule/smtp-gateway',
        'Service/smtp-gateway-http',
        'Service/smtp-gateway-smtp',
        'ServiceAccount/smtp-gateway',
        'ServiceMonitor/smtp-gateway',
      ].sort(),
    );
    assert.match(
      String(get(one('ConfigMap'), 'metadata.name')),
      /^smtp-gateway-[a-z0-9]{10}$/,
      'hashed name rolls pods on change',
    );
    assert.ok(docs.every((d) => get(d, 'metadata.namespace') === 'smtp-gateway'));
  });

  it('every object passes its Kubernetes / Prometheus Operator schema', () => {
    for (const d of docs) assert.doesNotThrow(() => validateModel(d), `${String(d['kind'])}`);
  });

  it('the schema validation does catch a wrong type', () => {
    const bad = structuredClone(deployment);
    (get(bad, 'spec.template.spec') as Obj)['terminationGracePeriodSeconds'] = 'sixty';
    assert.throws(() => validateModel(bad), /terminationGracePeriodSeconds/);
  });

  it('every field name exists in the API types (tsc excess-property check), and a typo is caught', async () => {
    assert.deepEqual(await typecheckManifests(docs), []);
    const typo = structuredClone(deployment);
    const c = (get(typo, 'spec.template.spec.containers') as Obj[])[0] as Obj;
    (c['securityContext'] as Obj)['readOnlyRootFileSystem'] = true;
    const errors = await typecheckManifests([typo]);
    assert.ok(
      errors.some((e) => e.includes('readOnlyRootFileSystem')),
      errors.join('\n'),
    );
  });

  it('probes: liveness /health/live, readiness /health/ready, on the http port', () => {
    assert.equal(get(container, 'livenessProbe.httpGet.path'), '/health/live');
    assert.equal(get(container, 'readinessProbe.httpGet.path'), '/health/ready');
    assert.equal(get(container, 'startupProbe.httpGet.path'), '/health/live');
    for (const p of ['livenessProbe', 'readinessProbe', 'startupProbe'])
      assert.equal(get(container, `${p}.httpGet.port`), 'http');
  });

  it('stopping: preStop sleep, SIGTERM drains within DRAIN_TIMEOUT, the last calls end, all inside the grace period', () => {
    const command = get(container, 'lifecycle.preStop.exec.command') as string[];
    assert.equal(command[0], 'sleep');
    const sleep = Number(command[1]);
    assert.ok(sleep >= 5);
    const grace = Number(get(pod, 'spec.terminationGracePeriodSeconds'));
    // A delivery under way at the drain's end finishes its call (src/smtp/drain.ts).
    const lastCall = Number(config['CAKEMAIL_TIMEOUT_MS'] ?? CONFIG_VARIABLES.CAKEMAIL_TIMEOUT_MS[1]) / 1000;
    assert.ok(grace >= sleep + Number(config['DRAIN_TIMEOUT']) + lastCall + 5, `grace ${grace}`);
    assert.deepEqual(get(deployment, 'spec.strategy.rollingUpdate'), { maxSurge: 1, maxUnavailable: 0 });
    assert.equal(get(deployment, 'spec.replicas'), undefined, 'the HPA owns the replica count');
  });

  it('hardening: non-root 1000, read-only root, no privilege escalation, no capabilities, RuntimeDefault seccomp', () => {
    assert.deepEqual(get(pod, 'spec.securityContext'), {
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      fsGroup: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    assert.deepEqual(container['securityContext'], {
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    assert.equal(get(pod, 'spec.automountServiceAccountToken'), false);
    assert.equal(get(pod, 'spec.enableServiceLinks'), false);
    assert.doesNotMatch(String(container['image']), /:latest$|^[^:]+$/);
  });

  it('writable paths: emptyDir at /data (= DATA_DIR) and /tmp, nothing else', () => {
    const mounts = container['volumeMounts'] as Obj[];
    const volumes = get(pod, 'spec.volumes') as Obj[];
    const emptyDirs = volumes.filter((v) => v['emptyDir']).map((v) => v['name']);
    const writable = mounts
      .filter((m) => m['readOnly'] !== true)
      .map((m) => [m['mountPath'], emptyDirs.includes(m['name'])]);
    assert.deepEqual(writable.sort(), [
      ['/data', true],
      ['/tmp', true],
    ]);
    assert.equal(get(envOf('DATA_DIR'), 'value'), '/data');
    assert.equal(imageEnv()['DATA_DIR'], '/data', 'the image and the pod agree');
  });

  it('TLS: the secret is mounted as a directory (no subPath) and TLS_CERT_PATH/TLS_KEY_PATH point into it', () => {
    const volumes = get(pod, 'spec.volumes') as Obj[];
    const tls = volumes.find((v) => get(v, 'secret.secretName') === 'smtp-gateway-tls');
    assert.ok(tls);
    const mount = (container['volumeMounts'] as Obj[]).find((m) => m['name'] === tls['name']);
    assert.ok(mount && mount['readOnly'] === true);
    assert.equal(mount['subPath'], undefined);
    assert.equal(get(envOf('TLS_CERT_PATH'), 'value'), `${String(mount['mountPath'])}/tls.crt`);
    assert.equal(get(envOf('TLS_KEY_PATH'), 'value'), `${String(mount['mountPath'])}/tls.key`);
    const certificate = parse(
      readFileSync(join(REPO_ROOT, 'deployment/cert-manager/certificate.yaml'), 'utf8'),
    ) as Obj;
    assert.equal(
      get(certificate, 'spec.secretName'),
      'smtp-gateway-tls',
      'cert-manager writes the secret the pod mounts',
    );
  });

  it('sizing: 500m/512Mi requested, 1000m/1Gi limit, one SMTP worker per limited CPU', () => {
    assert.deepEqual(container['resources'], {
      requests: { cpu: '500m', memory: '512Mi' },
      limits: { cpu: '1000m', memory: '1Gi' },
    });
    assert.equal(config['SMTP_WORKERS'], '1');
    assert.equal(config['NODE_ENV'], 'production');
    assert.match(String(config['CAKEMAIL_API_URL']), /^https:\/\//);
  });

  it('configuration: env from the generated ConfigMap, REDIS_URL from a Secret, never in the ConfigMap', () => {
    assert.equal(
      get((container['envFrom'] as Obj[])[0], 'configMapRef.name'),
      get(one('ConfigMap'), 'metadata.name'),
    );
    assert.deepEqual(get(envOf('REDIS_URL'), 'valueFrom.secretKeyRef'), {
      name: 'smtp-gateway-redis',
      key: 'REDIS_URL',
    });
    assert.equal(config['REDIS_URL'], undefined);
    assert.equal(get(pod, 'spec.serviceAccountName'), get(one('ServiceAccount'), 'metadata.name'));
  });

  it('spreads pods over zones and nodes, selecting its own pods', () => {
    const constraints = get(pod, 'spec.topologySpreadConstraints') as Obj[];
    assert.deepEqual(
      constraints.map((c) => c['topologyKey']),
      ['topology.kubernetes.io/zone', 'kubernetes.io/hostname'],
    );
    for (const c of constraints)
      assert.ok(subsetOf(get(c, 'labelSelector.matchLabels'), get(pod, 'metadata.labels')));
  });

  it('services: SMTP LoadBalancer 587 → 2525 keeping client IPs, HTTP ClusterIP 8080', () => {
    const ports = new Map((container['ports'] as Obj[]).map((p) => [p['name'], p['containerPort']]));
    assert.deepEqual(
      [...ports],
      [
        ['smtp', 2525],
        ['http', 8080],
      ],
    );
    const smtp = one('Service', 'smtp-gateway-smtp');
    assert.equal(get(smtp, 'spec.type'), 'LoadBalancer');
    assert.equal(get(smtp, 'spec.externalTrafficPolicy'), 'Local');
    assert.deepEqual(get(smtp, 'spec.ports'), [
      { name: 'submission', port: 587, targetPort: 'smtp', protocol: 'TCP' },
    ]);
    const http = one('Service', 'smtp-gateway-http');
    assert.equal(get(http, 'spec.type'), 'ClusterIP');
    assert.deepEqual(get(http, 'spec.ports'), [
      { name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' },
    ]);
    for (const s of [smtp, http]) assert.ok(subsetOf(get(s, 'spec.selector'), get(pod, 'metadata.labels')));
  });

  it('autoscaling 2-20 on 70% CPU of this Deployment; the PDB keeps one pod', () => {
    const hpa = one('HorizontalPodAutoscaler');
    assert.deepEqual(get(hpa, 'spec.scaleTargetRef'), {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'smtp-gateway',
    });
    assert.equal(get(hpa, 'spec.minReplicas'), 2);
    assert.equal(get(hpa, 'spec.maxReplicas'), 20);
    assert.deepEqual(get(hpa, 'spec.metrics'), [
      {
        type: 'Resource',
        resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
      },
    ]);
    const pdb = one('PodDisruptionBudget');
    assert.equal(get(pdb, 'spec.minAvailable'), 1);
    assert.ok(subsetOf(get(pdb, 'spec.selector.matchLabels'), get(pod, 'metadata.labels')));
  });

  it('network policy: SMTP from anywhere, HTTP from monitoring only, egress DNS, 443 and Redis', () => {
    const np = one('NetworkPolicy');
    assert.ok(subsetOf(get(np, 'spec.podSelector.matchLabels'), get(pod, 'metadata.labels')));
    assert.deepEqual(get(np, 'spec.policyTypes'), ['Ingress', 'Egress']);
    assert.deepEqual(get(np, 'spec.ingress'), [
      { ports: [{ port: 'smtp', protocol: 'TCP' }] },
      {
        from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
        ports: [{ port: 'http', protocol: 'TCP' }],
      },
    ]);
    const egressPorts = (get(np, 'spec.egress') as Obj[]).flatMap((r) =>
      (r['ports'] as Obj[]).map((p) => `${String(p['port'])}/${String(p['protocol'])}`),
    );
    assert.deepEqual(egressPorts.sort(), ['443/TCP', '53/TCP', '53/UDP', '6379/TCP']);
  });

  it('monitoring: the ServiceMonitor scrapes /metrics on the HTTP Service as job "smtp-gateway"', () => {
    const sm = one('ServiceMonitor');
    const http = one('Service', 'smtp-gateway-http');
    const smtp = one('Service', 'smtp-gateway-smtp');
    assert.ok(subsetOf(get(sm, 'spec.selector.matchLabels'), get(http, 'metadata.labels')));
    assert.ok(
      !subsetOf(get(sm, 'spec.selector.matchLabels'), get(smtp, 'metadata.labels')),
      'SMTP port is not scraped',
    );
    const [endpoint] = get(sm, 'spec.endpoints') as Obj[];
    assert.equal(endpoint?.['port'], 'http');
    assert.equal(endpoint?.['path'], '/metrics');
    assert.deepEqual(endpoint?.['relabelings'], [
      { action: 'replace', targetLabel: 'job', replacement: 'smtp-gateway' },
    ]);
    const rules = parse(readFileSync(join(REPO_ROOT, 'deployment/prometheus/alerts.yaml'), 'utf8')) as Obj;
    assert.deepEqual(get(one('PrometheusRule'), 'spec'), rules);
  });
});
