/**
 * Node's on-disk compile cache for every process of the gateway.
 *
 * Node 24 strips TypeScript types with a WebAssembly build of swc, loaded in each
 * process on the first `.ts` file it compiles: ~20 MiB of RSS per process and time at
 * start-up. With the compile cache, a process whose modules are all cached never loads
 * it (measured: a worker at rest 125 → 101 MiB RSS; docs/benchmarks.md). The primary
 * enables it for itself (modules loaded from here on) and hands the directory to its
 * workers and the embedded sandbox through NODE_COMPILE_CACHE, so they are cached from
 * their first module. A directory that cannot be written (read-only root file system)
 * just means no cache: Node falls back to compiling, nothing fails.
 */
import module from 'node:module';

let directory: string | undefined;

/** Enables the cache in this process (idempotent); returns its directory, if any. */
export function enableCompileCache(): string | undefined {
  if (directory !== undefined) return directory;
  const result = module.enableCompileCache?.(process.env.NODE_COMPILE_CACHE);
  directory = result?.directory;
  return directory;
}

/** Environment for child processes so they use the same cache from their first module. */
export function compileCacheEnv(): Record<string, string> {
  const dir = enableCompileCache();
  return dir ? { NODE_COMPILE_CACHE: dir } : {};
}

/** Writes what this process compiled so far (a worker that later crashes still leaves it). */
export function flushCompileCache(): void {
  module.flushCompileCache?.();
}
