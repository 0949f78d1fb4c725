// TLS material: the self-signed default (sha256, SANs, key 0600, shared by all workers) and live rotation
// of certificate files in a watched directory (a Kubernetes secret swaps a symlink).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { SmtpTestClient } from '../helpers/smtp-client.ts';
import { makeCertPair, secretVolume } from '../helpers/tls-files.ts';
import { TEST_PASSWORD, TEST_USER } from '../fixtures/test-mail-side.ts';

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

test('certificate files replaced on disk (Kubernetes-style symlink swap): new handshakes get the new certificate', async () => {
  const first = await makeCertPair('first.test');
  const second = await makeCertPair('second.test');
  const volume = await secretVolume(first);
  const gw = await startGateway({
    env: { TLS_CERT_PATH: volume.certPath, TLS_KEY_PATH: volume.keyPath },
  });
  try {
    assert.equal((await servedCertificate(gw.smtpPort)).fingerprint256, first.fingerprint);
    const mark = gw.lines.length;
    await volume.rotate(second); // atomic swap, as the kubelet does
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

test("an ECDSA P-256 certificate (a fraction of RSA-2048's handshake CPU) is served as configured; AUTH and mail work over it, TLS 1.2 included", async () => {
  const pair = await makeCertPair('ec.gateway.test', 'ec');
  const volume = await secretVolume(pair);
  const gw = await startGateway({
    env: { TLS_CERT_PATH: volume.certPath, TLS_KEY_PATH: volume.keyPath, SMTP_HOSTNAME: 'ec.gateway.test' },
  });
  try {
    const served = await servedCertificate(gw.smtpPort);
    assert.equal(served.fingerprint256, pair.fingerprint);
    assert.equal(served.publicKey.asymmetricKeyType, 'ec');
    assert.equal(served.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    // TLS 1.2 needs one of the ECDHE-ECDSA suites of TLS_CIPHERS for this key.
    const { client } = await SmtpTestClient.connect(gw.smtpPort);
    await client.command('EHLO client.test');
    assert.equal((await client.starttls({ maxVersion: 'TLSv1.2' })).code, 220);
    assert.equal(client.tlsSocket!.getProtocol(), 'TLSv1.2');
    assert.match(client.tlsSocket!.getCipher().standardName, /^TLS_ECDHE_ECDSA_WITH_/);
    await client.command('EHLO client.test');
    const auth = await client.command(
      'AUTH PLAIN ' + Buffer.from(`\0${TEST_USER}\0${TEST_PASSWORD}`).toString('base64'),
    );
    assert.equal(auth.code, 235, auth.text);
    assert.equal((await client.command('MAIL FROM:<user@test.example>')).code, 250);
    client.end();
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
