/**
 * The certificate and key every worker serves on STARTTLS. Loaded by the primary only,
 * sent to workers over IPC (init, tls.update), so one self-signed certificate is shared
 * by all workers and a rotated certificate reaches all of them at once.
 *
 * Production: TLS_CERT_PATH / TLS_KEY_PATH. Their directory is watched because a
 * Kubernetes secret update swaps the `..data` symlink inside the mounted directory
 * (the files themselves never see a write).
 * Elsewhere: DATA_DIR/tls/self-signed-{cert,key}.pem, generated once with `selfsigned`.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Config } from '../config/schema.ts';
import type { TlsMaterial } from '../ipc/messages.ts';
import type { Logger } from '../log.ts';

export interface TlsSource {
  certPath: string;
  keyPath: string;
  selfSigned: boolean;
}

export function tlsSource(config: Config): TlsSource {
  if (config.TLS_CERT_PATH && config.TLS_KEY_PATH)
    return { certPath: config.TLS_CERT_PATH, keyPath: config.TLS_KEY_PATH, selfSigned: false };
  const dir = join(config.DATA_DIR, 'tls');
  return {
    certPath: join(dir, 'self-signed-cert.pem'),
    keyPath: join(dir, 'self-signed-key.pem'),
    selfSigned: true,
  };
}

/** Reads (or first creates) the material and checks that key and certificate belong together. */
export async function loadTlsMaterial(
  source: TlsSource,
  hostname: string,
  log: Logger,
): Promise<TlsMaterial> {
  if (source.selfSigned) await ensureSelfSigned(source, hostname, log);
  const [cert, key] = await Promise.all([
    readFile(source.certPath, 'utf8'),
    readFile(source.keyPath, 'utf8'),
  ]);
  const material = { cert, key };
  createSecureContext(material); // throws on an unreadable pair or one key type's mismatch
  // OpenSSL files a key of another type than the certificate's (an RSA key beside an
  // ECDSA certificate) in a slot of its own instead of refusing it, and every handshake
  // then fails: compare them here, never hand such a pair to the workers.
  if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key)))
    throw new Error(`${source.keyPath} is not the key of ${source.certPath}`);
  return material;
}

export function certificateNotAfter(material: TlsMaterial): Date {
  return new Date(new X509Certificate(material.cert).validTo);
}

async function ensureSelfSigned(source: TlsSource, hostname: string, log: Logger): Promise<void> {
  try {
    const existing = await readFile(source.certPath, 'utf8');
    const cert = new X509Certificate(existing);
    // Regenerate when expired or when SMTP_HOSTNAME changed since it was made.
    if (new Date(cert.validTo) > new Date() && cert.checkHost(hostname) !== undefined) return;
  } catch {
    // missing or unreadable: generate below
  }
  const pems = await generateCertificate(hostname);
  await mkdir(dirname(source.certPath), { recursive: true, mode: 0o700 });
  await writeFile(source.keyPath, pems.key, { mode: 0o600 });
  await chmod(source.keyPath, 0o600); // mode is ignored when the file already existed
  await writeFile(source.certPath, pems.cert, { mode: 0o644 });
  log.info(
    { event: 'tls.self_signed', certPath: source.certPath, hostname },
    'generated a self-signed certificate',
  );
}

/**
 * A self-signed certificate for `hostname`: sha256, RSA 2048 by default (what the chart's
 * cert-manager Certificate issues, for the widest client compatibility) or ECDSA P-256
 * (a handshake's private-key operation at a fraction of the CPU; the bench measures
 * both), SANs for localhost, 127.0.0.1 and the hostname (selfsigned's defaults are sha1
 * and would replace the SANs).
 */
export async function generateCertificate(
  hostname: string,
  days = 365,
  keyType: 'rsa' | 'ec' = 'rsa',
): Promise<TlsMaterial> {
  const notBeforeDate = new Date();
  const notAfterDate = new Date(notBeforeDate.getTime() + days * 86_400_000);
  // Loaded only here: a pod with its own certificate never pays its ~7 MiB of RSS.
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: hostname }], {
    algorithm: 'sha256',
    ...(keyType === 'ec' ? { keyType: 'ec' as const, curve: 'P-256' as const } : { keySize: 2048 }),
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false },
      // keyEncipherment is for RSA key transport only; an EC key only signs.
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: keyType === 'rsa' },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          ...(hostname === 'localhost' ? [] : [{ type: 2 as const, value: hostname }]),
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/**
 * Watches the directories holding the certificate and key; calls `onChange` (debounced)
 * after any change, including a symlink swap. Returns a stop function.
 */
export function watchTlsSource(source: TlsSource, onChange: () => void, debounceMs = 300): () => void {
  const dirs = [...new Set([dirname(source.certPath), dirname(source.keyPath)])];
  let timer: NodeJS.Timeout | undefined;
  const fire = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
    timer.unref();
  };
  const watchers: FSWatcher[] = [];
  for (const dir of dirs) {
    try {
      const w = watch(dir, { persistent: false }, fire);
      w.on('error', () => {});
      watchers.push(w);
    } catch {
      // directory missing: nothing to watch (start-up already failed loudly if the files were needed)
    }
  }
  return () => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
