/**
 * Validation of Kubernetes manifests against the OpenAPI-generated models of
 * kubernetes-models (core API), @kubernetes-models/prometheus-operator and
 * @kubernetes-models/cert-manager, two ways:
 *   - `validateModel`: the models' JSON-schema validators (types, enums, required fields);
 *     like the API server's schema they accept unknown fields, so also
 *   - `typecheckManifests`: each manifest written as an object literal `satisfies` its
 *     TypeScript interface and compiled with tsc, whose excess-property check rejects
 *     misspelt or misplaced fields (`readOnlyRootFileSystem`, `sleep` at the wrong level…).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import {
  PrometheusRule,
  ServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Certificate, ClusterIssuer } from '@kubernetes-models/cert-manager/cert-manager.io/v1';
import { REPO_ROOT } from './dockerfile.ts';

interface ModelInfo {
  readonly ctor: new (data: never) => { validate(): void };
  readonly module: string;
  readonly iface: string;
}

const PROM = '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
const CERT = '@kubernetes-models/cert-manager/cert-manager.io/v1';
const MODELS: Record<string, ModelInfo> = {
  'v1/ConfigMap': { ctor: ConfigMap, module: 'kubernetes-models/v1', iface: 'IConfigMap' },
  'v1/Secret': { ctor: Secret, module: 'kubernetes-models/v1', iface: 'ISecret' },
  'v1/Service': { ctor: Service, module: 'kubernetes-models/v1', iface: 'IService' },
  'v1/ServiceAccount': { ctor: ServiceAccount, module: 'kubernetes-models/v1', iface: 'IServiceAccount' },
  'apps/v1/Deployment': { ctor: Deployment, module: 'kubernetes-models/apps/v1', iface: 'IDeployment' },
  'autoscaling/v2/HorizontalPodAutoscaler': {
    ctor: HorizontalPodAutoscaler,
    module: 'kubernetes-models/autoscaling/v2',
    iface: 'IHorizontalPodAutoscaler',
  },
  'policy/v1/PodDisruptionBudget': {
    ctor: PodDisruptionBudget,
    module: 'kubernetes-models/policy/v1',
    iface: 'IPodDisruptionBudget',
  },
  'networking.k8s.io/v1/NetworkPolicy': {
    ctor: NetworkPolicy,
    module: 'kubernetes-models/networking.k8s.io/v1',
    iface: 'INetworkPolicy',
  },
  'monitoring.coreos.com/v1/ServiceMonitor': { ctor: ServiceMonitor, module: PROM, iface: 'IServiceMonitor' },
  'monitoring.coreos.com/v1/PrometheusRule': { ctor: PrometheusRule, module: PROM, iface: 'IPrometheusRule' },
  'cert-manager.io/v1/ClusterIssuer': { ctor: ClusterIssuer, module: CERT, iface: 'IClusterIssuer' },
  'cert-manager.io/v1/Certificate': { ctor: Certificate, module: CERT, iface: 'ICertificate' },
};

const keyOf = (doc: Record<string, unknown>): string => `${String(doc['apiVersion'])}/${String(doc['kind'])}`;

function modelOf(doc: Record<string, unknown>): ModelInfo {
  const info = MODELS[keyOf(doc)];
  if (!info) throw new Error(`no model for ${keyOf(doc)}`);
  return info;
}

/** Throws the model's validation error (path and reason) for an invalid manifest. */
export function validateModel(doc: Record<string, unknown>): void {
  const { ctor: Model } = modelOf(doc);
  new Model(doc as never).validate();
}

/** tsc diagnostics for the manifests typed by their interfaces; [] when all are exact. */
export async function typecheckManifests(docs: Record<string, unknown>[]): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'k8s-typecheck-'));
  try {
    await symlink(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    await writeFile(join(dir, 'package.json'), '{"type":"module"}');
    const imports = new Map<string, Set<string>>();
    const lines = docs.map((doc, i) => {
      const { module, iface } = modelOf(doc);
      imports.set(module, (imports.get(module) ?? new Set()).add(iface));
      const label = `${keyOf(doc)} ${String((doc['metadata'] as Record<string, unknown> | undefined)?.['name'])}`;
      return `// ${label}\nexport const m${i} = ${JSON.stringify(doc, null, 2)} satisfies ${iface};`;
    });
    const head = [...imports].map(([m, names]) => `import type { ${[...names].join(', ')} } from '${m}';`);
    await writeFile(join(dir, 'manifests.ts'), [...head, ...lines].join('\n'));
    const tsc = join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
    const args = [
      '--noEmit',
      '--strict',
      '--skipLibCheck',
      '--target',
      'es2022',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--types',
      'node',
      'manifests.ts',
    ];
    const out = await promisify(execFile)(process.execPath, [tsc, ...args], {
      cwd: dir,
      timeout: 120_000,
    }).then(
      () => '',
      (e: { stdout?: string }) => e.stdout ?? String(e),
    );
    return out.split('\n').filter((l) => l.trim() !== '');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
