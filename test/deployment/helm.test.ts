/**
 * deployment/helm/smtp-gateway without helm: the values files against values.schema.json
 * (as Helm validates merged values), the values against the gateway's own config schema,
 * every template through the dialect checker of helm-template.ts under every values file,
 * and the production render compared key by key with the kustomize base.
 * `helm lint` / `helm template` themselves run where helm exists (docs/operations.md).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, SECRET_VARIABLES } from '../../src/config/schema.ts';
import { REPO_ROOT } from './dockerfile.ts';
import {
  UNRESOLVED,
  checkTemplate,
  compareWithManifest,
  mergeValues,
  type TemplateContext,
} from './helm-template.ts';
import { renderKustomize, skipWithoutKubectl } from './tools.ts';

const CHART = join(REPO_ROOT, 'deployment/helm/smtp-gateway');
const readYaml = (p: string): Record<string, unknown> =>
  parse(readFileSync(p, 'utf8'), { version: '1.1' }) as Record<string, unknown>;
const chart = readYaml(join(CHART, 'Chart.yaml'));
const defaults = readYaml(join(CHART, 'values.yaml'));
const ENVIRONMENTS = ['values-prod.yaml', 'values-staging.yaml'] as const;
const merged = (file: string): Record<string, unknown> =>
  mergeValues(defaults, readYaml(join(CHART, file))) as Record<string, unknown>;
const VALUE_SETS: Record<string, Record<string, unknown>> = {
  'values.yaml': defaults,
  ...Object.fromEntries(ENVIRONMENTS.map((f) => [f, merged(f)])),
};
const TEMPLATES = readdirSync(join(CHART, 'templates')).filter((f) => f.endsWith('.yaml'));

const context = (values: Record<string, unknown>): TemplateContext => ({
  values,
  chart: {
    Name: String(chart['name']),
    Version: String(chart['version']),
    AppVersion: String(chart['appVersion']),
  },
  release: { Name: 'smtp-gateway', Namespace: 'smtp-gateway', Service: 'Helm' },
  chartDir: CHART,
});
const renderAll = (values: Record<string, unknown>) =>
  TEMPLATES.map((file) => ({
    file,
    ...checkTemplate(readFileSync(join(CHART, 'templates', file), 'utf8'), context(values)),
  }));

const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Record<string, unknown>;
const ajv = new Ajv({ strict: true, allErrors: true });
const validateValues = ajv.compile(schema);
const errorsOf = (values: unknown): string[] =>
  validateValues(values)
    ? []
    : (validateValues.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);

type Obj = Record<string, unknown>;
const get = (o: unknown, path: string): unknown =>
  path
    .split('.')
    .reduce<unknown>((cur, k) => (cur !== null && typeof cur === 'object' ? (cur as Obj)[k] : undefined), o);

/** CPU quantity ("1000m", "2", 1.5) in cores. */
const cores = (q: unknown): number =>
  typeof q === 'number' ? q : /m$/.test(String(q)) ? parseFloat(String(q)) / 1000 : parseFloat(String(q));

describe('Chart.yaml', () => {
  it('is a v2 application chart deploying the package version', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(chart['apiVersion'], 'v2');
    assert.equal(chart['name'], 'smtp-gateway');
    assert.equal(chart['type'], 'application');
    assert.match(String(chart['version']), /^\d+\.\d+\.\d+$/);
    assert.equal(chart['appVersion'], pkg.version);
  });
});

describe('values.schema.json', () => {
  it('is JSON Schema draft-07 (what Helm reads) and compiles in strict mode', () => {
    assert.equal(schema['$schema'], 'http://json-schema.org/draft-07/schema#');
    assert.equal(typeof validateValues, 'function');
  });

  for (const [name, values] of Object.entries(VALUE_SETS)) {
    it(`accepts ${name} (merged over values.yaml, as Helm validates)`, () => {
      assert.deepEqual(errorsOf(values), []);
    });
  }

  const rejects: [string, (v: Obj) => void][] = [
    ['a misspelt top-level key', (v) => (v['replicas'] = 3)],
    ['a setting the chart owns (SMTP_PORT)', (v) => ((v['config'] as Obj)['SMTP_PORT'] = '25')],
    ['REDIS_URL in the ConfigMap', (v) => ((v['config'] as Obj)['REDIS_URL'] = 'redis://r:6379')],
    ['a non-string config value', (v) => ((v['config'] as Obj)['SMTP_WORKERS'] = 2)],
    ['NODE_ENV other than production', (v) => ((v['config'] as Obj)['NODE_ENV'] = 'development')],
    [
      'a plain-http Cakemail API',
      (v) => ((v['config'] as Obj)['CAKEMAIL_API_URL'] = 'http://api.cakemail.dev'),
    ],
    ['the latest tag', (v) => ((v['image'] as Obj)['tag'] = 'latest')],
    [
      'a CPU limit that is not a quantity',
      (v) => (((v['resources'] as Obj)['limits'] as Obj)['cpu'] = 'one'),
    ],
    [
      'a misspelt nested key',
      (v) => ((v['service'] as Obj)['smtp'] = { ...(get(v, 'service.smtp') as Obj), prot: 587 }),
    ],
  ];
  for (const [what, mutate] of rejects) {
    it(`rejects ${what}`, () => {
      const v = structuredClone(merged('values-prod.yaml'));
      mutate(v);
      assert.notDeepEqual(errorsOf(v), []);
    });
  }
});

describe('values files', () => {
  for (const [name, values] of Object.entries(VALUE_SETS)) {
    it(`${name}: every config entry is a valid gateway setting (src/config/schema.ts)`, () => {
      for (const [k, v] of Object.entries(values['config'] as Obj)) {
        assert.ok(k in CONFIG_VARIABLES, `${k} is not a gateway setting`);
        assert.ok(!SECRET_VARIABLES.has(k), `${k} is secret: it belongs in a Secret, not a ConfigMap`);
        const [zodSchema] = CONFIG_VARIABLES[k as keyof typeof CONFIG_VARIABLES];
        const r = zodSchema.safeParse(v);
        assert.ok(r.success, `${k}=${String(v)}: ${r.success ? '' : r.error.message}`);
      }
    });

    it(`${name}: SMTP_WORKERS matches the CPU limit and the grace period covers preStop + drain + last call`, () => {
      const config = values['config'] as Obj;
      const limit = cores(get(values, 'resources.limits.cpu'));
      assert.equal(Number(config['SMTP_WORKERS']), Math.max(1, Math.floor(limit)));
      const grace = Number(values['terminationGracePeriodSeconds']);
      // A delivery under way at the drain's end finishes its call (src/smtp/drain.ts).
      const lastCall =
        Number(config['CAKEMAIL_TIMEOUT_MS'] ?? CONFIG_VARIABLES.CAKEMAIL_TIMEOUT_MS[1]) / 1000;
      const need = Number(values['preStopSleepSeconds']) + Number(config['DRAIN_TIMEOUT']) + lastCall;
      assert.ok(
        grace >= need + 5,
        `terminationGracePeriodSeconds ${grace} < preStop + DRAIN_TIMEOUT + CAKEMAIL_TIMEOUT_MS + 5 s (${need + 5})`,
      );
      assert.ok(Number(values['preStopSleepSeconds']) >= 5, 'endpoints need a few seconds to drop the pod');
    });

    it(`${name}: autoscaling 2..20 at most, above the disruption budget`, () => {
      const min = Number(get(values, 'autoscaling.minReplicas'));
      const max = Number(get(values, 'autoscaling.maxReplicas'));
      assert.ok(min >= 2 && max >= min && max <= 20, `${min}..${max}`);
      assert.ok(
        Number(get(values, 'podDisruptionBudget.minAvailable')) < min,
        'a drain must be able to evict a pod',
      );
    });
  }

  it('defaults are the documented sizing: 500m/512Mi requested, 1000m/1Gi limit, HPA 2-20 at 70% CPU', () => {
    assert.deepEqual(defaults['resources'], {
      requests: { cpu: '500m', memory: '512Mi' },
      limits: { cpu: '1000m', memory: '1Gi' },
    });
    assert.deepEqual(defaults['autoscaling'], {
      enabled: true,
      minReplicas: 2,
      maxReplicas: 20,
      targetCPUUtilizationPercentage: 70,
    });
    assert.equal(get(defaults, 'config.DRAIN_TIMEOUT'), CONFIG_VARIABLES.DRAIN_TIMEOUT[1]);
  });
});

describe('templates (placeholder check, no helm)', () => {
  const kinds = (docs: Obj[]): string[] => docs.map((d) => String(d['kind'])).sort();

  for (const [name, values] of Object.entries(VALUE_SETS)) {
    it(`every template parses as YAML with ${name}`, () => {
      const rendered = renderAll(values);
      assert.equal(rendered.length, TEMPLATES.length);
      assert.ok(
        rendered.every((r) =>
          r.docs.every((d) => typeof d['apiVersion'] === 'string' && typeof d['kind'] === 'string'),
        ),
      );
    });
  }

  it('production renders the expected objects (no chart-made Secret: REDIS_URL comes from an existing one)', () => {
    const docs = renderAll(merged('values-prod.yaml')).flatMap((r) => r.docs);
    assert.deepEqual(kinds(docs), [
      'ConfigMap',
      'Deployment',
      'HorizontalPodAutoscaler',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'PrometheusRule',
      'Service',
      'Service',
      'ServiceAccount',
      'ServiceMonitor',
    ]);
  });

  it('every optional block renders when switched on (redis.url → Secret, autoscaling off → replicas)', () => {
    const values = structuredClone(merged('values-staging.yaml'));
    Object.assign(values, {
      podAnnotations: { 'example.com/a': 'b' },
      podLabels: { team: 'mail' },
      nodeSelector: { pool: 'smtp' },
      tolerations: [{ key: 'smtp', operator: 'Exists', effect: 'NoSchedule' }],
      affinity: { nodeAffinity: {} },
      imagePullSecrets: [{ name: 'registry' }],
      redis: { url: 'rediss://redis.example:6379', existingSecret: '', existingSecretKey: 'REDIS_URL' },
      autoscaling: { enabled: false },
      replicaCount: 3,
    });
    (get(values, 'service.smtp') as Obj)['annotations'] = {
      'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb',
    };
    (get(values, 'service.smtp') as Obj)['loadBalancerSourceRanges'] = ['203.0.113.0/24'];
    (get(values, 'networkPolicy.redis') as Obj)['cidr'] = '10.1.0.0/16';
    assert.deepEqual(errorsOf(values), []);
    const rendered = renderAll(values);
    const docs = rendered.flatMap((r) => r.docs);
    /** The document of that kind and a reader of its fields with tokens replaced by their values. */
    const of = (kind: string, file?: string): ((path: string) => unknown) => {
      const r = rendered.find(
        (x) => (file === undefined || x.file === file) && x.docs.some((d) => d['kind'] === kind),
      );
      const doc = r?.docs.find((d) => d['kind'] === kind);
      assert.ok(r && doc, `${kind} not rendered`);
      return (path) => {
        const v = get(doc, path);
        const t = typeof v === 'string' ? r.tokens.get(v) : undefined;
        return t ? t.value : v;
      };
    };
    assert.ok(!kinds(docs).includes('HorizontalPodAutoscaler'));
    assert.equal(of('Secret')('stringData.REDIS_URL'), 'rediss://redis.example:6379');
    const deployment = of('Deployment');
    assert.equal(deployment('spec.replicas'), 3);
    const containers = deployment('spec.template.spec.containers') as Obj[];
    assert.ok((containers[0]?.['env'] as Obj[]).some((e) => e['name'] === 'REDIS_URL'));
    assert.deepEqual(deployment('spec.template.spec.tolerations'), values['tolerations']);
    assert.deepEqual(deployment('spec.template.spec.nodeSelector'), { pool: 'smtp' });
    const redisRule = (of('NetworkPolicy')('spec.egress') as Obj[]).at(-1);
    assert.match(JSON.stringify(redisRule), /"to":\[\{"ipBlock":\{"cidr":"__TPL_\d+__"\}\}\]/);
    assert.deepEqual(of('Service', 'service-smtp.yaml')('spec.loadBalancerSourceRanges'), ['203.0.113.0/24']);
    assert.deepEqual(of('Service', 'service-smtp.yaml')('metadata.annotations'), {
      'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb',
    });
  });

  it('mounts the TLS secret as a directory: no subPath anywhere, cert and key paths inside the mount', () => {
    for (const file of TEMPLATES) {
      assert.doesNotMatch(readFileSync(join(CHART, 'templates', file), 'utf8'), /^\s*-?\s*subPath:/m, file);
    }
    const source = readFileSync(join(CHART, 'templates/deployment.yaml'), 'utf8');
    assert.match(source, /value: \{\{ printf "%s\/tls\.crt" \.Values\.tls\.mountPath \| quote \}\}/);
    assert.match(source, /value: \{\{ printf "%s\/tls\.key" \.Values\.tls\.mountPath \| quote \}\}/);
    assert.match(source, /mountPath: \{\{ \.Values\.tls\.mountPath \}\}\n\s+readOnly: true/);
  });

  it('the checker rejects what it cannot decide and YAML that does not parse', () => {
    const ctx = context(defaults);
    assert.throws(
      () => checkTemplate('{{ range .Values.tolerations }}\nx: 1\n{{ end }}\n', ctx),
      /outside the checked dialect/,
    );
    assert.throws(
      () => checkTemplate('{{- if include "x" . }}\na: 1\n{{- end }}\n', ctx),
      /condition must depend on .Values/,
    );
    assert.throws(() => checkTemplate('a: {{ if .Values.x }}1{{ end }}\n', ctx), /alone on their line/);
    assert.throws(() => checkTemplate('a: {{ $labels.pod }}\n', ctx), /variables/);
    assert.throws(() => checkTemplate('a: [1\n', ctx), /YAML/);
    const t = checkTemplate(
      'a: {{ .Values.replicaCount }}\nb: {{ .Values.image.pullPolicy | quote }}\n',
      ctx,
    );
    assert.deepEqual(
      [...t.tokens.values()].map((x) => x.value),
      [2, 'IfNotPresent'],
    );
    assert.notEqual(checkTemplate('a: {{ include "x" . }}\n', ctx).tokens.get('__TPL_0__')?.value, 2);
    assert.equal(checkTemplate('a: {{ include "x" . }}\n', ctx).tokens.get('__TPL_0__')?.value, UNRESOLVED);
  });
});

describe('production render = kustomize base', { skip: skipWithoutKubectl }, () => {
  const IGNORE = [
    // kustomize rolls pods through the hashed ConfigMap name instead of this annotation.
    'spec.template.metadata.annotations',
  ];

  async function diffs(mutate?: (docs: Obj[]) => void): Promise<string[]> {
    const manifests = await renderKustomize(join(REPO_ROOT, 'deployment/kubernetes'));
    mutate?.(manifests);
    const rendered = renderAll(merged('values-prod.yaml'));
    const out: string[] = [];
    const matched = new Set<Obj>();
    for (const r of rendered) {
      for (const doc of r.docs) {
        const candidates = manifests.filter(
          (m) =>
            m['kind'] === doc['kind'] &&
            compareWithManifest(get(doc, 'metadata.name'), get(m, 'metadata.name'), r.tokens).length === 0,
        );
        if (candidates.length !== 1) {
          out.push(`${r.file}: ${String(doc['kind'])} matches ${candidates.length} manifests`);
          continue;
        }
        matched.add(candidates[0] as Obj);
        out.push(
          ...compareWithManifest(doc, candidates[0], r.tokens, { ignore: IGNORE }).map(
            (d) => `${r.file}: ${d}`,
          ),
        );
      }
    }
    for (const m of manifests)
      if (!matched.has(m))
        out.push(`kustomize ${String(m['kind'])} ${String(get(m, 'metadata.name'))} has no template`);
    return out;
  }

  it('every object and field of the chart (values-prod.yaml) equals deployment/kubernetes', async () => {
    assert.deepEqual(await diffs(), []);
  });

  it('a drift is reported at its path', async () => {
    const found = await diffs((docs) => {
      const d = docs.find((x) => x['kind'] === 'Deployment');
      const c = (get(d, 'spec.template.spec.containers') as Obj[])[0] as Obj;
      (get(c, 'lifecycle.preStop.exec') as Obj)['command'] = ['sleep', '5'];
      (c['securityContext'] as Obj)['readOnlyRootFilesystem'] = false;
      docs.splice(
        docs.findIndex((x) => x['kind'] === 'PodDisruptionBudget'),
        1,
      );
    });
    assert.ok(
      found.some((d) => d.includes('lifecycle.preStop.exec.command[1]')),
      found.join('\n'),
    );
    assert.ok(
      found.some((d) => d.includes('securityContext.readOnlyRootFilesystem')),
      found.join('\n'),
    );
    assert.ok(
      found.some((d) => d.includes('PodDisruptionBudget matches 0')),
      found.join('\n'),
    );
  });
});
