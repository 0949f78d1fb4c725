/**
 * deployment/cert-manager: the Let's Encrypt ClusterIssuers and the Certificates against
 * the cert-manager resource models (@kubernetes-models/cert-manager: schema validation and
 * exact field names), and wired to what the chart mounts and the gateway announces.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from './dockerfile.ts';
import { typecheckManifests, validateModel } from './k8s-models.ts';
import { mergeValues } from './helm-template.ts';
import { parseManifests } from './tools.ts';

type Obj = Record<string, unknown>;
const get = (o: unknown, path: string): unknown =>
  path
    .split('.')
    .reduce<unknown>((cur, k) => (cur !== null && typeof cur === 'object' ? (cur as Obj)[k] : undefined), o);

const DIR = join(REPO_ROOT, 'deployment/cert-manager');
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));
const docs = FILES.flatMap((f) =>
  parseManifests(readFileSync(join(DIR, f), 'utf8')).map((d) => ({ file: f, doc: d })),
);
const issuers = docs.filter((d) => d.doc['kind'] === 'ClusterIssuer').map((d) => d.doc);
const certificates = docs.filter((d) => d.doc['kind'] === 'Certificate').map((d) => d.doc);
const CHART = join(REPO_ROOT, 'deployment/helm/smtp-gateway');
const valuesFor = (file: string): Obj =>
  mergeValues(
    parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')),
    parse(readFileSync(join(CHART, file), 'utf8')),
  ) as Obj;
const hours = (d: unknown): number => {
  const m = /^(\d+)h$/.exec(String(d));
  assert.ok(m, `duration in hours expected: ${String(d)}`);
  return Number(m[1]);
};

describe('cert-manager resources', () => {
  it('are two ClusterIssuers and two Certificates, nothing else', () => {
    assert.deepEqual(
      docs.map((d) => `${String(d.doc['kind'])}/${String(get(d.doc, 'metadata.name'))}`).sort(),
      [
        'Certificate/smtp-gateway',
        'Certificate/smtp-gateway',
        'ClusterIssuer/letsencrypt-production',
        'ClusterIssuer/letsencrypt-staging',
      ],
    );
  });

  it('pass the cert-manager schemas', () => {
    for (const { file, doc } of docs) assert.doesNotThrow(() => validateModel(doc), file);
  });

  it('the schema validation catches an invalid resource', () => {
    const bad = structuredClone(certificates[0] as Obj);
    (get(bad, 'spec.privateKey') as Obj)['rotationPolicy'] = 'Sometimes';
    assert.throws(() => validateModel(bad), /rotationPolicy/);
  });

  it('use only field names cert-manager knows (tsc excess-property check), and a typo is caught', async () => {
    assert.deepEqual(await typecheckManifests(docs.map((d) => d.doc)), []);
    const typo = structuredClone(issuers[0] as Obj);
    (get(typo, 'spec.acme') as Obj)['privateKeySecretRefs'] = { name: 'x' };
    const errors = await typecheckManifests([typo]);
    assert.ok(
      errors.some((e) => e.includes('privateKeySecretRefs')),
      errors.join('\n'),
    );
  });
});

describe('ClusterIssuers', () => {
  const servers: Record<string, string> = {
    'letsencrypt-production': 'https://acme-v02.api.letsencrypt.org/directory',
    'letsencrypt-staging': 'https://acme-staging-v02.api.letsencrypt.org/directory',
  };
  for (const [name, server] of Object.entries(servers)) {
    it(`${name}: ACME at Let's Encrypt, DNS-01 only, with its own account key`, () => {
      const issuer = issuers.find((i) => get(i, 'metadata.name') === name);
      assert.ok(issuer);
      assert.equal(get(issuer, 'metadata.namespace'), undefined, 'cluster-scoped');
      assert.equal(get(issuer, 'spec.acme.server'), server);
      assert.match(String(get(issuer, 'spec.acme.email')), /^[^@\s]+@[^@\s]+$/);
      assert.equal(get(issuer, 'spec.acme.privateKeySecretRef.name'), `${name}-account-key`);
      const solvers = get(issuer, 'spec.acme.solvers') as Obj[];
      assert.ok(solvers.length > 0);
      for (const s of solvers) {
        assert.equal(s['http01'], undefined, 'no HTTP-01: the SMTP load balancer serves no port 80');
        assert.deepEqual(get(s, 'dns01.cloudflare.apiTokenSecretRef'), {
          name: 'cloudflare-api-token',
          key: 'api-token',
        });
        assert.ok((get(s, 'selector.dnsZones') as string[]).includes('example.com'));
      }
    });
  }
});

describe('Certificates', () => {
  const cases = [
    { values: 'values-prod.yaml', namespace: 'smtp-gateway', issuer: 'letsencrypt-production' },
    { values: 'values-staging.yaml', namespace: 'smtp-gateway-staging', issuer: 'letsencrypt-staging' },
  ];
  for (const c of cases) {
    it(`${c.namespace}: into the Secret the chart mounts (${c.values}), for SMTP_HOSTNAME, from ${c.issuer}`, () => {
      const cert = certificates.find((x) => get(x, 'metadata.namespace') === c.namespace);
      assert.ok(cert);
      const values = valuesFor(c.values);
      assert.equal(get(cert, 'spec.secretName'), get(values, 'tls.secretName'));
      assert.deepEqual(get(cert, 'spec.dnsNames'), [get(values, 'config.SMTP_HOSTNAME')]);
      assert.deepEqual(get(cert, 'spec.issuerRef'), {
        group: 'cert-manager.io',
        kind: 'ClusterIssuer',
        name: c.issuer,
      });
      assert.ok(issuers.some((i) => get(i, 'metadata.name') === c.issuer));
      assert.equal(get(cert, 'spec.privateKey.rotationPolicy'), 'Always');
      assert.ok((get(cert, 'spec.usages') as string[]).includes('server auth'));
    });

    it(`${c.namespace}: renews 30 days ahead, well before the 14-day expiry alert`, () => {
      const cert = certificates.find((x) => get(x, 'metadata.namespace') === c.namespace);
      const renewBefore = hours(get(cert, 'spec.renewBefore'));
      assert.equal(renewBefore, 30 * 24);
      assert.ok(renewBefore < hours(get(cert, 'spec.duration')));
      const alerts = parse(readFileSync(join(REPO_ROOT, 'deployment/prometheus/alerts.yaml'), 'utf8')) as {
        groups: { rules: { alert?: string; expr: string }[] }[];
      };
      const rule = alerts.groups
        .flatMap((g) => g.rules)
        .find((r) => r.alert === 'SmtpTlsCertificateExpiringSoon');
      const warnDays = Number(/< (\d+) \* 86400/.exec(rule?.expr ?? '')?.[1]);
      assert.equal(warnDays, 14);
      assert.ok(renewBefore / 24 >= warnDays + 7, 'a week of failed renewals before the first alert');
    });
  }

  it('the production Certificate lives in the kustomize base namespace', () => {
    const kustomization = parse(
      readFileSync(join(REPO_ROOT, 'deployment/kubernetes/kustomization.yaml'), 'utf8'),
    ) as Obj;
    assert.ok(certificates.some((x) => get(x, 'metadata.namespace') === kustomization['namespace']));
  });
});
