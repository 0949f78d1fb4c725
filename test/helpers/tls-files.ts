/**
 * Certificate files laid out like a Kubernetes secret volume (tls.crt -> ..data/tls.crt,
 * ..data -> ..vN), rotated the way the kubelet does it: write a new version directory,
 * then atomically rename a new `..data` symlink over the old one.
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, rename, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCertificate } from '../../src/primary/tls-material.ts';

export interface CertPair {
  cert: string;
  key: string;
  fingerprint: string;
}

export async function makeCertPair(hostname: string, keyType: 'rsa' | 'ec' = 'rsa'): Promise<CertPair> {
  const { cert, key } = await generateCertificate(hostname, 365, keyType);
  return { cert, key, fingerprint: new X509Certificate(cert).fingerprint256 };
}

export interface SecretDir {
  certPath: string;
  keyPath: string;
  /** Swap in another pair atomically. */
  rotate(pair: CertPair): Promise<void>;
}

export async function secretVolume(first: CertPair): Promise<SecretDir> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-tls-'));
  let version = 0;
  const writeVersion = async (pair: CertPair) => {
    const name = `..v${++version}`;
    await mkdir(join(dir, name));
    await writeFile(join(dir, name, 'tls.crt'), pair.cert);
    await writeFile(join(dir, name, 'tls.key'), pair.key);
    return name;
  };
  await symlink(await writeVersion(first), join(dir, '..data'));
  await symlink('..data/tls.crt', join(dir, 'tls.crt'));
  await symlink('..data/tls.key', join(dir, 'tls.key'));
  return {
    certPath: join(dir, 'tls.crt'),
    keyPath: join(dir, 'tls.key'),
    async rotate(pair) {
      await symlink(await writeVersion(pair), join(dir, '..data_tmp'));
      await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    },
  };
}
