/**
 * The orchestrator's handle on a load-generator process (bench/generator-main.ts):
 * fork, one request at a time with a deadline, kill (more file descriptors when it
 * needs them: fd-limit.ts).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { withFdLimit } from './fd-limit.ts';
import type { GeneratorRequest } from './generator-main.ts';
import { REPO } from './servers.ts';

const ENTRY = join(REPO, 'bench/generator-main.ts');

export class GeneratorProc {
  readonly child: ChildProcess;
  #busy = false;

  private constructor(child: ChildProcess) {
    this.child = child;
  }

  static async start(fdsNeeded: number): Promise<GeneratorProc> {
    const [cmd, args] = withFdLimit(ENTRY, [], fdsNeeded);
    const child =
      cmd === process.execPath
        ? fork(ENTRY, [], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
        : spawn(cmd, args, { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const g = new GeneratorProc(child);
    await g.#await('up', 20_000);
    return g;
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  request<T>(message: GeneratorRequest, replyType: string, timeoutMs: number): Promise<T> {
    if (this.#busy) throw new Error('generator busy');
    this.#busy = true;
    const reply = this.#await<T>(replyType, timeoutMs).finally(() => {
      this.#busy = false;
    });
    this.child.send(message);
    return reply;
  }

  #await<T>(type: string, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`generator: no '${type}' within ${timeoutMs} ms`));
      }, timeoutMs);
      const onMessage = (m: { type: string; error?: string; [k: string]: unknown }) => {
        if (m.type === 'error') {
          cleanup();
          reject(new Error(`generator failed: ${m.error}`));
        } else if (m.type === type) {
          cleanup();
          resolve(m as T);
        }
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`generator exited (${code}) while waiting for '${type}'`));
      };
      this.child.on('message', onMessage);
      this.child.once('exit', onExit);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    try {
      this.child.send({ type: 'exit' } satisfies GeneratorRequest);
    } catch {
      this.child.kill('SIGKILL');
    }
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}
