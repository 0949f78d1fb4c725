/** Arguments of the probes (`memory-probe.ts`, `latency-probe.ts`): `[N] [--env KEY=VALUE ...]`. */
export function probeArgs(
  argv: readonly string[],
  defaultCount: number,
): { count: number; env: Record<string, string> } {
  const count = Number(argv.find((a) => /^\d+$/.test(a)) ?? defaultCount);
  return { count, env: envOptions(argv, '--env') };
}

/** The KEY=VALUE pairs after each `flag` (`--env`) in `argv`. */
export function envOptions(argv: readonly string[], flag: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++)
    if (argv[i] === flag) {
      const [k, ...v] = (argv[++i] ?? '').split('=');
      if (!k || v.length === 0) throw new Error(`${flag} needs KEY=VALUE`);
      env[k] = v.join('=');
    }
  return env;
}

/** The word after `--name` in `argv`, or `fallback` when the option is absent. */
export function stringOption(argv: readonly string[], name: string, fallback: string): string {
  const i = argv.indexOf(name);
  return i >= 0 ? (argv[i + 1] ?? '') : fallback;
}

/** The number after `--name` in `argv`, or `fallback` when the option is absent. */
export function numberOption(argv: readonly string[], name: string, fallback: number): number {
  return argv.includes(name) ? Number(stringOption(argv, name, '')) : fallback;
}
