/**
 * Node flags of the primary's own command line: every launcher starts it as
 * `node --max-semi-space-size=2 src/main.ts` (npm start, the image's CMD, ecosystem.config.js's
 * node_args, the bench; test/deployment and test/e2e/pm2 check they agree).
 *
 * Why: the primary allocates little (IPC messages, the ledger's records), but V8 lets its
 * young generation grow to 16 MiB semi-spaces, and its peak RSS moved by 30-65 MiB from run
 * to run (94-159 MiB) in bench (e), enough to take a pod holding 10,000 sessions past its
 * 1 GiB. At 2 MiB it stayed at 94-117 MiB (docs/benchmarks.md). A running process cannot
 * resize its heap, and NODE_OPTIONS would reach the workers too: hence the command line.
 * The workers do not inherit it (supervisor.ts): theirs is WORKER_SEMI_SPACE_MB.
 */
export const PRIMARY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];

/** The primary's flag names (`--max-semi-space-size`), whatever value a launcher gave them. */
const PRIMARY_FLAG_NAMES = new Set(PRIMARY_NODE_FLAGS.map((f) => f.split('=')[0]));

/** The primary's execArgv without its own flags: what the workers may inherit. */
export function withoutPrimaryFlags(execArgv: readonly string[]): string[] {
  return execArgv.filter((a) => !PRIMARY_FLAG_NAMES.has(a.split('=')[0]));
}
