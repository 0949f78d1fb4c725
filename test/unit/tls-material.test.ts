// Loading the certificate and key the workers serve: a key that is not the certificate's is
// refused at load, whatever its type (OpenSSL itself takes a key of another type silently).
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createSecureContext } from 'node:tls';
import type { TlsMaterial } from '../../src/ipc/messages.ts';
import { createLogger } from '../../src/log.ts';
import { generateCertificate, loadTlsMaterial, type TlsSource } from '../../src/primary/tls-material.ts';

const log = createLogger({ level: 'silent', format: 'json', role: 'primary' });

async function source(material: TlsMaterial): Promise<TlsSource> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-tls-unit-'));
  await writeFile(join(dir, 'tls.crt'), material.cert);
  await writeFile(join(dir, 'tls.key'), material.key);
  return { certPath: join(dir, 'tls.crt'), keyPath: join(dir, 'tls.key'), selfSigned: false };
}

test('a matching pair loads, RSA or ECDSA', async () => {
  for (const type of ['rsa', 'ec'] as const) {
    const pair = await generateCertificate('pair.test', 30, type);
    assert.deepEqual(await loadTlsMaterial(await source(pair), 'pair.test', log), pair);
  }
});

test("refused: a key of the same type that is not the certificate's, and a key of another type", async () => {
  const a = await generateCertificate('a.test', 30, 'rsa');
  const b = await generateCertificate('b.test', 30, 'rsa');
  const ec = await generateCertificate('c.test', 30, 'ec');
  await assert.rejects(loadTlsMaterial(await source({ cert: a.cert, key: b.key }), 'a.test', log));
  const crossed = { cert: ec.cert, key: a.key };
  // What made the check necessary: OpenSSL accepts this pair.
  assert.doesNotThrow(() => createSecureContext(crossed));
  await assert.rejects(loadTlsMaterial(await source(crossed), 'c.test', log), /is not the key of/);
});
