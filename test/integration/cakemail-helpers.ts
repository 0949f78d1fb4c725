/**
 * Helpers of the Cakemail-side tests (test/integration/cakemail-*.test.ts and
 * delivery-*.test.ts): a real sandbox on port 0, configuration from env strings, a
 * silent session context, and a loopback port nobody listens on.
 */
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { CakemailAuthenticator } from '../../src/cakemail/authenticator.ts';
import { CakemailClient, type CakemailClientOptions } from '../../src/cakemail/client.ts';
import type { SessionContext } from '../../src/smtp/contracts.ts';

export { startTestSandbox, type TestSandbox } from './sandbox-helpers.ts';

export const silentLog = pino({ level: 'silent' });

export function ctx(): SessionContext {
  return { sessionId: 'test', remoteAddress: '127.0.0.1', log: silentLog };
}

/** Configuration as the gateway would load it, with small deadlines for tests. */
export function testConfig(apiUrl: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    CAKEMAIL_API_URL: apiUrl,
    CAKEMAIL_TIMEOUT_MS: '2000',
    DELIVERY_DEADLINE_MS: '5000',
    DELIVERY_RETRY_BASE_MS: '5',
    DELIVERY_MAX_ATTEMPTS: '4',
    BREAKER_FAILURE_THRESHOLD: '1000',
    ...env,
  });
}

export function makeClient(baseUrl: string, opts: Partial<CakemailClientOptions> = {}): CakemailClient {
  return new CakemailClient({ baseUrl, timeoutMs: 2000, connections: 4, ...opts });
}

export function makeAuthenticator(
  client: CakemailClient,
  opts: Partial<ConstructorParameters<typeof CakemailAuthenticator>[0]> = {},
): CakemailAuthenticator {
  return new CakemailAuthenticator({
    client,
    secret: randomBytes(32),
    cacheTtlMaxSeconds: 3600,
    negativeTtlSeconds: 30,
    cacheSize: 100,
    log: silentLog,
    ...opts,
  });
}

/** A loopback URL where nothing listens (the port was free a moment ago). */
export async function deadUrl(): Promise<string> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

/** Polls `cond` until true or the deadline: synchronisation on a condition, not a sleep. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const DEMO = { username: 'demo@cakemail.test', password: 'demo-password' } as const;

/** Current value of a prom-client counter/gauge for an exact label set (0 when absent). */
export async function metric(
  m: { get(): Promise<{ values: { labels: Record<string, string | number>; value: number }[] }> },
  labels: Record<string, string> = {},
): Promise<number> {
  const { values } = await m.get();
  const want = JSON.stringify(Object.entries(labels).sort());
  const hit = values.find(
    (v) =>
      JSON.stringify(
        Object.entries(v.labels)
          .map(([k, x]) => [k, String(x)])
          .sort(),
      ) === want,
  );
  return hit?.value ?? 0;
}
