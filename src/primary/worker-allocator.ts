/**
 * Which malloc the SMTP workers run with (WORKER_ALLOCATOR).
 *
 * Most of an idle TLS session's memory is native: OpenSSL's record buffers and Node's
 * TLS wrapper, ~46 KiB a session with glibc's malloc, whose arenas also keep what the
 * per-message buffers freed under load. With jemalloc (preloaded into the worker
 * process: malloc cannot be swapped once a process runs) the same 10,000 sessions under
 * load took ~10 KiB less each and the workers ~50 MiB less each (docs/benchmarks.md).
 * `auto` uses jemalloc when the library is installed (the image installs it) and the
 * system malloc otherwise; `jemalloc` refuses to start without it.
 */
import { existsSync } from 'node:fs';

export type AllocatorChoice = 'auto' | 'jemalloc' | 'system';

/** Where Debian/Ubuntu (per architecture), Alpine, Fedora and source builds put it. */
const JEMALLOC_PATHS = [
  '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2',
  '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2',
  '/usr/lib/libjemalloc.so.2',
  '/usr/lib64/libjemalloc.so.2',
  '/usr/local/lib/libjemalloc.so.2',
];

export interface WorkerAllocator {
  name: 'jemalloc' | 'system';
  /** Environment for the worker processes (LD_PRELOAD for jemalloc). */
  env: Record<string, string>;
}

export function resolveWorkerAllocator(
  choice: AllocatorChoice,
  opts: { paths?: readonly string[]; inheritedPreload?: string } = {},
): WorkerAllocator {
  if (choice === 'system') return { name: 'system', env: {} };
  const library = (opts.paths ?? JEMALLOC_PATHS).find((p) => existsSync(p));
  if (!library) {
    if (choice === 'jemalloc')
      throw new Error(
        `WORKER_ALLOCATOR=jemalloc but libjemalloc.so.2 is not installed (looked in ${JEMALLOC_PATHS.join(', ')})`,
      );
    return { name: 'system', env: {} };
  }
  // Keep whatever the operator preloads already; ours goes first (it must own malloc).
  const inherited = opts.inheritedPreload ?? process.env.LD_PRELOAD ?? '';
  const preload = inherited.split(/[\s:]+/).includes(library) ? inherited : `${library} ${inherited}`.trim();
  return { name: 'jemalloc', env: { LD_PRELOAD: preload } };
}
