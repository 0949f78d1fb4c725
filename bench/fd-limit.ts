/**
 * File-descriptor limits for the benchmark's processes: 10,000 held sessions need more
 * than a default soft limit of 1024. A process that needs more than the current soft
 * limit is started through `bash -c 'ulimit -n N; exec node ...'` (N clamped to the
 * hard limit; an IPC channel survives the exec).
 */
import { execFileSync } from 'node:child_process';

function ulimit(flag: '-Sn' | '-Hn'): number {
  try {
    const v = execFileSync('bash', ['-c', `ulimit ${flag}`], { encoding: 'utf8' }).trim();
    return v === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(v) || 1024;
  } catch {
    return 1024;
  }
}

export const SOFT_FD_LIMIT = ulimit('-Sn');
export const HARD_FD_LIMIT = ulimit('-Hn');

/**
 * [command, args] that run `node ...nodeFlags <entry> ...args` with at least `fds` open files
 * allowed (up to the hard limit).
 */
export function withFdLimit(
  entry: string,
  args: string[],
  fds: number,
  nodeFlags: readonly string[] = [],
): [string, string[]] {
  if (SOFT_FD_LIMIT >= fds) return [process.execPath, [...nodeFlags, entry, ...args]];
  const n = Math.min(fds, HARD_FD_LIMIT);
  return ['bash', ['-c', `ulimit -n ${n} && exec "$0" "$@"`, process.execPath, ...nodeFlags, entry, ...args]];
}
