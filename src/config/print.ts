/** `npm run config`: prints the resolved configuration, secrets masked, or the one-line error. */
import { loadConfig, ConfigError } from './load.ts';
import { SECRET_VARIABLES } from './schema.ts';

export function maskedConfig(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) {
    out[k] = SECRET_VARIABLES.has(k) && v !== undefined ? maskUrl(String(v)) : v;
  }
  return out;
}

function maskUrl(value: string): string {
  try {
    const u = new URL(value);
    if (u.password) u.password = '****';
    if (u.username) u.username = '****';
    return u.toString();
  } catch {
    return '****';
  }
}

if (import.meta.main) {
  try {
    process.stdout.write(JSON.stringify(maskedConfig(loadConfig()), null, 2) + '\n');
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(err.message + '\n');
    process.exitCode = 1;
  }
}
