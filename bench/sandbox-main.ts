/**
 * The benchmark's upstream: the sandbox Cakemail API (src/sandbox) in fast mode, as its
 * own process. No outbox files, and only the last 100 accepted emails kept in memory
 * (the default 10,000 would add up to half a GiB to the server tree's RSS in the 1 MB
 * scenario: memory of the test upstream, not of the gateway).
 *
 * `node bench/sandbox-main.ts` with DATA_DIR; prints `{"msg":"sandbox ready","url":...}`.
 */
import { startSandbox } from '../src/sandbox/server.ts';

const sandbox = await startSandbox({
  dataDir: process.env.DATA_DIR ?? '.data',
  port: 0,
  writeOutbox: false,
  outboxMemoryEntries: 100,
});
process.stdout.write(JSON.stringify({ msg: 'sandbox ready', url: sandbox.url, port: sandbox.port }) + '\n');
const stop = () => void sandbox.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
