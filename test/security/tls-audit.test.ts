// TLS audit of the SMTP listener's STARTTLS with testssl.sh (an outside tool, not our own TLS client):
// protocols, cipher categories, forward secrecy, every offered cipher, and the certificate served.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateCertificate } from '../../src/primary/tls-material.ts';
import { startGateway } from '../helpers/gateway.ts';

const TESTSSL = '/usr/bin/testssl';
const HOSTNAME = 'mx.tls-audit.test';

interface Finding {
  id: string;
  severity: string;
  finding: string;
}

async function configuredPair(dir: string) {
  const pems = await generateCertificate(HOSTNAME);
  const certPath = join(dir, 'tls.crt');
  const keyPath = join(dir, 'tls.key');
  await writeFile(certPath, pems.cert);
  await writeFile(keyPath, pems.key, { mode: 0o600 });
  return { certPath, keyPath, cert: new X509Certificate(pems.cert) };
}

/** Runs testssl with a hard time bound; resolves with its JSON findings (the exit code reflects findings, not failure). */
function testssl(port: number, jsonFile: string): Promise<{ findings: Finding[]; output: string }> {
  const args = [
    '--quiet',
    '--nodns',
    'none',
    '--warnings',
    'off',
    '--color',
    '0',
    '--connect-timeout',
    '10',
    '--openssl-timeout',
    '10',
    '--jsonfile',
    jsonFile,
    // protocols, server defaults (certificate), standard cipher categories, forward secrecy, each cipher
    '-p',
    '-S',
    '-s',
    '-f',
    '-e',
    '-t',
    'smtp',
    `127.0.0.1:${port}`,
  ];
  return new Promise((resolve, reject) => {
    execFile(TESTSSL, args, { timeout: 150_000, maxBuffer: 16 << 20 }, async (err, stdout, stderr) => {
      if (err && (err as { killed?: boolean }).killed) return reject(new Error('testssl timed out'));
      try {
        const findings = JSON.parse(await readFile(jsonFile, 'utf8')) as Finding[];
        resolve({ findings, output: stdout + stderr });
      } catch (e) {
        reject(new Error(`testssl wrote no JSON (${(e as Error).message}):\n${stdout}\n${stderr}`));
      }
    });
  });
}

test(
  'testssl.sh against STARTTLS: TLS 1.2+ only, AEAD forward-secret suites only, the configured certificate',
  { skip: existsSync(TESTSSL) ? false : `${TESTSSL} not installed`, timeout: 170_000 },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-tls-audit-'));
    const pair = await configuredPair(dir);
    const gw = await startGateway({
      env: {
        SMTP_WORKERS: '1',
        SMTP_HOSTNAME: HOSTNAME,
        TLS_CERT_PATH: pair.certPath,
        TLS_KEY_PATH: pair.keyPath,
        DATA_DIR: join(dir, 'data'),
      },
    });
    try {
      const { findings, output } = await testssl(gw.smtpPort, join(dir, 'out.json'));
      const byId = new Map(findings.map((f) => [f.id, f]));
      const get = (id: string) => {
        const f = byId.get(id);
        assert.ok(f, `testssl reported no "${id}"; output:\n${output}`);
        return f;
      };
      assert.equal(get('service').finding, 'smtp', 'testssl spoke STARTTLS over SMTP');
      const fatal = findings.filter((f) => f.severity === 'FATAL' || f.id === 'scanProblem');
      assert.deepEqual(fatal, [], 'the scan completed');

      // Protocols: nothing below TLS 1.2.
      for (const id of ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1'])
        assert.match(get(id).finding, /^not offered/, `${id}: ${get(id).finding}`);
      assert.match(get('TLS1_2').finding, /^offered/);

      // Cipher categories: no NULL, anonymous, export, LOW (DES/RC4), 3DES/IDEA, obsolete CBC.
      for (const id of [
        'cipherlist_NULL',
        'cipherlist_aNULL',
        'cipherlist_EXPORT',
        'cipherlist_LOW',
        'cipherlist_3DES_IDEA',
        'cipherlist_AVERAGE',
      ])
        assert.match(get(id).finding, /^not offered/, `${id}: ${get(id).finding}`);
      assert.match(get('cipherlist_STRONG').finding, /^offered/);
      assert.match(get('PFS').finding, /^offered/, 'forward secrecy offered');

      // Every cipher the server accepts (-e): ECDHE/DHE key exchange (or TLS 1.3) and an AEAD.
      const ciphers = findings.filter((f) => f.id.startsWith('cipher_x'));
      assert.ok(ciphers.length > 0, 'testssl enumerated the offered ciphers');
      for (const c of ciphers) {
        const [, name = '', kx = '', , enc = ''] = c.finding.trim().split(/\s+/);
        assert.ok(name.startsWith('TLS_') || /^(ECDHE|DHE)-/.test(name), `not forward-secret: ${c.finding}`);
        assert.match(kx, /^(ECDH|DH)$/, `key exchange of ${name}: ${kx}`);
        assert.match(enc, /^(AESGCM|ChaCha20)$/, `not AEAD: ${c.finding}`);
        assert.doesNotMatch(name, /NULL|EXP|RC4|DES|CBC|SHA$|MD5/, c.finding);
      }

      // The certificate served is the configured one.
      assert.equal(get('cert_commonName').finding, HOSTNAME);
      assert.match(get('cert_subjectAltName').finding, new RegExp(`\\b${HOSTNAME.replace(/\./g, '\\.')}\\b`));
      assert.equal(
        get('cert_fingerprintSHA256').finding,
        pair.cert.fingerprint256.replace(/:/g, ''),
        'served certificate = TLS_CERT_PATH',
      );
      assert.match(get('cert_signatureAlgorithm').finding, /SHA256/);
    } finally {
      await gw.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
);
