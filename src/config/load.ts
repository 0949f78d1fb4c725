/** Reads, validates and freezes the configuration once at start. */
import type { z } from 'zod';
import { CONFIG_VARIABLES, type Config, type ConfigName } from './schema.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Validates `env` against the schema. Throws ConfigError with one line naming the
 * variable, the value and what is allowed; checks that span variables come after.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(CONFIG_VARIABLES) as ConfigName[]) {
    const [schema, fallback] = CONFIG_VARIABLES[name];
    // Blank is unset: `z.coerce.number()` reads '  ' as 0, which turns limits off.
    const raw = env[name] === undefined || env[name].trim() === '' ? fallback : env[name];
    const parsed = (schema as z.ZodType).safeParse(raw);
    if (!parsed.success) {
      const allowed = parsed.error.issues.map((i) => i.message).join('; ');
      const shown = name === 'REDIS_URL' ? '<secret>' : JSON.stringify(raw);
      throw new ConfigError(`Invalid configuration: ${name}=${shown}: ${allowed}`);
    }
    out[name] = parsed.data;
  }
  const config = out as Config;
  if (config.NODE_ENV === 'production') {
    if (!config.CAKEMAIL_API_URL)
      throw new ConfigError(
        'Invalid configuration: CAKEMAIL_API_URL is required when NODE_ENV=production (the sandbox never runs in production)',
      );
    if (!config.TLS_CERT_PATH || !config.TLS_KEY_PATH)
      throw new ConfigError(
        'Invalid configuration: TLS_CERT_PATH and TLS_KEY_PATH are required when NODE_ENV=production',
      );
  }
  if (Boolean(config.TLS_CERT_PATH) !== Boolean(config.TLS_KEY_PATH))
    throw new ConfigError('Invalid configuration: TLS_CERT_PATH and TLS_KEY_PATH must be set together');
  return Object.freeze(config);
}
