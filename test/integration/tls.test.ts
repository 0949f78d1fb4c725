// TLS material: the self-signed default (sha256, SANs, key 0600, shared by all workers) and live rotation
// of certificate files in a watched directory (a Kubernetes secret swaps a symlink).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generate } from 'selfsigned';
import { startGateway } from '../helpers/gateway.ts';
import { SmtpTestClient } from '../helpers/smtp-client.ts';

async function servedCertificate(port: number): Promise<X509Certificate> {
  const { client } = await SmtpTestClient.connect(port);
  await client.command('EHLO client.test');
  await client.starttls();
  const raw = client.tlsSocket!.getPeerX509Certificate()!;
  client.end();
  return raw;
}

test('self-signed default: sha256, SANs for localhost, 127.0.0.1 and SMTP_HOSTNAME, key 0600, same certificate in every worker', async () => {
  const gw = await startGateway({ env: { SMTP_HOSTNAME: 'mx.gateway.test' } });
  try {
    const certPem = await readFile(join(gw.dataDir, 'tls/self-signed-cert.pem'), 'utf8');
    const cert = new X509Certificate(certPem);
    assert.match(cert.subjectAltName!, /DNS:localhost/);
    assert.match(cert.subjectAltName!, /IP Address:127\.0\.0\.1/);
    assert.match(cert.subjectAltName!, /DNS:mx\.gateway\.test/);
    assert.equal(cert.toLegacyObject().asn1Curve ?? 'rsa', 'rsa');
    assert.match(cert.publicKey.asymmetricKeyType!, /rsa/);
    // The signature algorithm: sha256WithRSAEncryption OID 1.2.840.113549.1.1.11 in the DER.
    assert.ok(
      cert.raw.includes(Buffer.from('2a864886f70d01010b', 'hex')),
      'signed with sha256WithRSAEncryption',
    );
    const mode = (await stat(join(gw.dataDir, 'tls/self-signed-key.pem'))).mode & 0o777;
    assert.equal(mode, 0o600);
    const fingerprints = new Set<string>();
    for (let i = 0; i < 4; i++) fingerprints.add((await servedCertificate(gw.smtpPort)).fingerprint256);
    const workers = new Set(gw.lines.filter((l) => l.event === 'smtp.connect').map((l) => l.worker));
    assert.equal(workers.size, 2);
    assert.deepEqual([...fingerprints], [cert.fingerprint256]);
  } finally {
    await gw.stop();
  }
});

async function makePair(cn: string) {
  const pems = await generate([{ name: 'commonName', value: cn }], { algorithm: 'sha256', keySize: 2048 });
  return { cert: pems.cert, key: pems.private, fingerprint: new X509Certificate(pems.cert).fingerprint256 };
}

test('certificate files replaced on disk (Kubernetes-style symlink swap): new handshakes get the new certificate', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gw-tls-'));
  const first = await makePair('first.test');
  const second = await makePair('second.test');
  // Kubernetes secret volume layout: tls.crt -> ..data/tls.crt, ..data -> ..2026_v1
  await mkdir(join(dir, '..v1'));
  await writeFile(join(dir, '..v1/tls.crt'), first.cert);
  await writeFile(join(dir, '..v1/tls.key'), first.key);
  await symlink('..v1', join(dir, '..data'));
  await symlink('..data/tls.crt', join(dir, 'tls.crt'));
  await symlink('..data/tls.key', join(dir, 'tls.key'));
  const gw = await startGateway({
    env: { TLS_CERT_PATH: join(dir, 'tls.crt'), TLS_KEY_PATH: join(dir, 'tls.key') },
  });
  try {
    assert.equal((await servedCertificate(gw.smtpPort)).fingerprint256, first.fingerprint);
    await mkdir(join(dir, '..v2'));
    await writeFile(join(dir, '..v2/tls.crt'), second.cert);
    await writeFile(join(dir, '..v2/tls.key'), second.key);
    await symlink('..v2', join(dir, '..data_tmp'));
    const mark = gw.lines.length;
    await rename(join(dir, '..data_tmp'), join(dir, '..data')); // atomic swap, as the kubelet does
    await gw.waitForLog((l) => l.event === 'tls.reloaded', 10_000, mark);
    await gw.waitForLog(
      () => gw.lines.slice(mark).filter((l) => l.event === 'worker.tls_updated').length >= 2,
      10_000,
      mark,
    );
    for (let i = 0; i < 4; i++)
      assert.equal((await servedCertificate(gw.smtpPort)).fingerprint256, second.fingerprint);
    const metrics = (await gw.http('/metrics')).body;
    const notAfter = Math.floor(new Date(new X509Certificate(second.cert).validTo).getTime() / 1000);
    assert.match(metrics, new RegExp(`gateway_tls_certificate_expiry_timestamp_seconds ${notAfter}`));
  } finally {
    await gw.stop();
  }
});

test('a bad configuration value stops start-up with one line naming the variable, the value and what is allowed', async () => {
  const { execFile } = await import('node:child_process');
  const result = await new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile(
      process.execPath,
      ['src/main.ts'],
      {
        cwd: new URL('../../', import.meta.url).pathname,
        env: { PATH: process.env.PATH, MAX_RECIPIENTS: 'lots' },
      },
      (err, _o, stderr) => resolve({ code: (err as { code?: number } | null)?.code ?? 0, stderr }),
    ),
  );
  assert.equal(result.code, 78);
  assert.equal(result.stderr.trim().split('\n').length, 1);
  assert.match(result.stderr, /^Invalid configuration: MAX_RECIPIENTS="lots": /);
});
