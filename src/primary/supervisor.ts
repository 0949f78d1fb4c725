/**
 * Forks and supervises the SMTP workers.
 *
 *              primary (this process)
 *   ┌────────────────────────────────────────┐
 *   │ slot 0 ── worker (generation g)        │  crash → backoff (doubling) → fork again
 *   │ slot 1 ── worker                       │  > WORKER_CRASH_LOOP_LIMIT crashes/60 s → crashlooping
 *   │ ...                                    │  SIGHUP → per slot: fork new, wait ready, retire old
 *   └────────────────────────────────────────┘  SIGTERM → shutdown to all, wait, kill stragglers
 *
 * A worker slot is a stable index (used as a label and in logs); each fork of a slot
 * gets a new generation. Nothing respawns once `stop()` began.
 */
import cluster, { type Worker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import type { Config } from '../config/schema.ts';
import {
  IPC_PROTOCOL,
  type PodStateInit,
  type PrimaryToWorker,
  type TlsMaterial,
  type WorkerToPrimary,
} from '../ipc/messages.ts';
import { RequestChannel, safeSend } from '../ipc/channel.ts';
import { compileCacheEnv } from '../compile-cache.ts';
import { resolveWorkerAllocator, type WorkerAllocator } from './worker-allocator.ts';
import { withoutPrimaryFlags } from './node-flags.ts';
import type { Logger } from '../log.ts';
import { workerRestartsTotal, workerStates } from '../metrics/primary-metrics.ts';

export type SlotState = 'starting' | 'listening' | 'draining' | 'backoff' | 'crashlooping' | 'stopped';
const STATES: readonly SlotState[] = [
  'starting',
  'listening',
  'draining',
  'backoff',
  'crashlooping',
  'stopped',
];

export interface LiveWorker {
  readonly worker: Worker;
  readonly slot: number;
  readonly generation: number;
  readonly channel: RequestChannel;
  retiring: boolean;
  /** Set by the one `shutdown` it is sent: resolves when it exited. */
  retirement?: Promise<void>;
}

interface Slot {
  index: number;
  state: SlotState;
  current?: LiveWorker;
  crashes: number[];
  generation: number;
  restartTimer?: NodeJS.Timeout;
}

export interface SupervisorEvents {
  message: [LiveWorker, WorkerToPrimary];
  exit: [LiveWorker];
  change: [];
}

/** `--<flag>=<value>` for a worker, or nothing when the setting is 0 (V8's own default). */
function v8Flag(flag: string, value: number): string[] {
  return value > 0 ? [`--${flag}=${value}`] : [];
}

export class Supervisor extends EventEmitter<SupervisorEvents> {
  readonly #config: Config;
  readonly #log: Logger;
  readonly #slots: Slot[];
  readonly #live = new Map<number, LiveWorker>();
  readonly #readyWaiters = new Map<number, (ok: boolean) => void>();
  #tls: TlsMaterial;
  #ticketKeys: string;
  readonly #authKey: string;
  readonly #podStateInit: () => PodStateInit;
  readonly #allocator: WorkerAllocator;
  #stopping = false;
  smtpPort: number | undefined;

  /** `podStateInit` is asked at each worker's init: its replicas' seeds, or "ask the primary". */
  constructor(
    config: Config,
    tls: TlsMaterial,
    ticketKeys: string,
    authKey: string,
    log: Logger,
    podStateInit: () => PodStateInit = () => ({ ledger: { mode: 'primary' }, lockouts: { mode: 'primary' } }),
  ) {
    super();
    this.#podStateInit = podStateInit;
    this.#config = config;
    this.#tls = tls;
    this.#ticketKeys = ticketKeys;
    this.#authKey = authKey;
    this.#log = log;
    this.#allocator = resolveWorkerAllocator(config.WORKER_ALLOCATOR);
    log.info(
      { event: 'workers.allocator', allocator: this.#allocator.name, requested: config.WORKER_ALLOCATOR },
      `SMTP workers run with the ${this.#allocator.name} malloc`,
    );
    this.#slots = Array.from({ length: config.SMTP_WORKERS }, (_, index) => ({
      index,
      state: 'starting' as SlotState,
      crashes: [],
      generation: 0,
    }));
    cluster.setupPrimary({
      exec: new URL('../../workers/smtp-worker.ts', import.meta.url).pathname,
      silent: false,
      // Worker V8 settings; each is left to V8 when its variable is 0.
      execArgv: [
        // The primary's own young-generation flag (node-flags.ts) is the primary's alone.
        ...withoutPrimaryFlags(process.execArgv),
        // The young generation's size: 8 MiB semi-spaces measured the same CPU per message as 32
        // and ~45 MiB less RSS per worker (docs/benchmarks.md).
        ...v8Flag('max-semi-space-size', config.WORKER_SEMI_SPACE_MB),
        // A fixed, small growing factor trades old-space collections for memory: what a pod
        // holding 10,000 sessions needs (docs/benchmarks.md).
        ...v8Flag('heap-growing-percent', config.WORKER_HEAP_GROWING_PERCENT),
        // Without a starting allowance, the old generation of a worker taking on thousands of
        // TLS sessions is collected every time it grows by that factor: full collections
        // queued banners behind them (bench (e): banner p99 250–290 ms opening 10,000
        // sessions, 222–228 ms with 128 MiB on one host; 96 MiB kept both (e) bounds on
        // another, where 128 took the pod past 1 GiB: docs/benchmarks.md).
        ...v8Flag('initial-old-space-size', config.WORKER_INITIAL_OLD_SPACE_MB),
      ],
    });
  }

  start(): void {
    for (const slot of this.#slots) this.#fork(slot);
  }

  /** Every slot has a listening worker and we are not stopping. */
  readiness(): { ready: boolean; reason?: string } {
    if (this.#stopping) return { ready: false, reason: 'draining' };
    const down = this.#slots.filter((s) => s.state !== 'listening');
    if (down.length > 0)
      return { ready: false, reason: down.map((s) => `worker slot ${s.index} ${s.state}`).join(', ') };
    return { ready: true };
  }

  slotStates(): { slot: number; state: SlotState; pid?: number; generation: number; restarts: number }[] {
    return this.#slots.map((s) => ({
      slot: s.index,
      state: s.state,
      pid: s.current?.worker.process.pid,
      generation: s.generation,
      restarts: s.crashes.length,
    }));
  }

  liveWorkers(): Iterable<LiveWorker> {
    return this.#live.values();
  }

  byWorkerId(id: number): LiveWorker | undefined {
    return this.#live.get(id);
  }

  /** New TLS material for every worker now and every worker forked later. */
  updateTls(tls: TlsMaterial): void {
    this.#tls = tls;
    this.#sendTls();
  }

  /** New session ticket keys (ticket-keys.ts), likewise. */
  updateTicketKeys(ticketKeys: string): void {
    this.#ticketKeys = ticketKeys;
    this.#sendTls();
  }

  #sendTls(): void {
    const update = { type: 'tls.update', tls: this.#tls, ticketKeys: this.#ticketKeys } as const;
    for (const w of this.#live.values()) safeSend(w.worker, update satisfies PrimaryToWorker);
  }

  /**
   * SIGHUP: replace workers one slot at a time. The replacement listens before the old
   * worker stops accepting, so the shared listening socket never closes and no
   * connection is refused; the old worker drains its sessions.
   */
  async rollingRestart(): Promise<void> {
    for (const slot of this.#slots) {
      if (this.#stopping) return;
      const old = slot.current;
      if (old) old.retiring = true;
      const ok = await this.#fork(slot);
      if (!ok) {
        this.#log.error(
          { event: 'worker.rolling_failed', slot: slot.index },
          'replacement did not become ready; keeping the old worker',
        );
        if (old) old.retiring = false;
        continue;
      }
      if (old) {
        workerRestartsTotal.inc({ reason: 'rolling' });
        this.#retire(old, 'rolling');
      }
    }
  }

  /** SIGTERM/SIGINT: no respawn from here on; every worker drains; resolves when all exited. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const slot of this.#slots) clearTimeout(slot.restartTimer);
    this.emit('change');
    const exits = [...this.#live.values()].map((w) => this.#retire(w, 'stop'));
    await Promise.all(exits);
  }

  #fork(slot: Slot): Promise<boolean> {
    // A slot waiting out a crash backoff gets its worker now (a rolling restart): the
    // pending restart must not fork a second one.
    if (slot.restartTimer !== undefined) {
      clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
      this.#log.info(
        { event: 'worker.restart_cancelled', slot: slot.index },
        'crash restart cancelled: the slot gets a worker now',
      );
    }
    slot.generation += 1;
    slot.state = 'starting';
    this.#publishStates();
    const worker = cluster.fork({
      ...compileCacheEnv(),
      ...this.#allocator.env,
      GATEWAY_WORKER_SLOT: String(slot.index),
    });
    const live: LiveWorker = {
      worker,
      slot: slot.index,
      generation: slot.generation,
      channel: new RequestChannel(worker),
      retiring: false,
    };
    this.#live.set(worker.id, live);
    this.#log.info(
      {
        event: 'worker.forked',
        slot: slot.index,
        workerPid: worker.process.pid,
        generation: live.generation,
      },
      'worker forked',
    );
    worker.on('online', () => {
      safeSend(worker, {
        type: 'init',
        protocol: IPC_PROTOCOL,
        slot: slot.index,
        generation: live.generation,
        config: this.#config,
        tls: this.#tls,
        ticketKeys: this.#ticketKeys,
        authKey: this.#authKey,
        ...this.#podStateInit(),
      } satisfies PrimaryToWorker);
    });
    worker.on('message', (message: WorkerToPrimary) => {
      if (message?.type === 'ready') {
        this.smtpPort ??= message.port;
        const previous = slot.current;
        slot.current = live;
        slot.state = 'listening';
        // The slot had another worker (a rolling restart's old one, or one forked by another
        // path): it stops now. Only a slot's current worker is seen (states, metrics, the next
        // SIGHUP), so one left serving would never be retired.
        if (previous && previous !== live) void this.#retire(previous, 'rolling');
        this.#readyWaiters.get(worker.id)?.(true);
        this.#log.info(
          {
            event: 'worker.listening',
            slot: slot.index,
            workerPid: worker.process.pid,
            generation: live.generation,
          },
          'worker listening',
        );
        this.#publishStates();
        return;
      }
      if (message?.type === 'response') {
        live.channel.handleResponse(message);
        return;
      }
      this.emit('message', live, message);
    });
    worker.on('exit', (code, signal) => this.#onExit(slot, live, code, signal));
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        // Hung before ready: it serves nobody, and nothing else would ever stop it (a
        // rolling restart keeps the old worker; a starting slot counts it as a crash).
        this.#log.error(
          { event: 'worker.start_timeout', slot: slot.index, workerPid: worker.process.pid },
          'worker did not become ready in time; killing it',
        );
        worker.process.kill('SIGKILL');
        finish(false);
      }, this.#config.WORKER_START_TIMEOUT_MS);
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.#readyWaiters.delete(worker.id);
        resolve(ok);
      };
      this.#readyWaiters.set(worker.id, finish);
    });
  }

  /** Tells a worker to drain and exit (once: a worker already retiring keeps its first reason). */
  #retire(live: LiveWorker, reason: 'stop' | 'rolling'): Promise<void> {
    if (live.retirement) return live.retirement;
    live.retiring = true;
    const slot = this.#slots[live.slot];
    if (slot && slot.current === live) slot.state = 'draining';
    this.#publishStates();
    live.retirement = new Promise<void>((resolve) => {
      if (live.worker.isDead()) return resolve();
      live.worker.once('exit', () => resolve());
      safeSend(live.worker, { type: 'shutdown', reason } satisfies PrimaryToWorker);
      // The worker exits by itself once drained. The calls still on the wire at the drain's
      // end may each take CAKEMAIL_TIMEOUT_MS (src/smtp/drain.ts); past that (+ grace) it is killed.
      const kill = setTimeout(
        () => {
          this.#log.warn(
            { event: 'worker.kill', slot: live.slot, workerPid: live.worker.process.pid },
            'worker overstayed the drain timeout',
          );
          live.worker.process.kill('SIGKILL');
        },
        (this.#config.DRAIN_TIMEOUT + 5) * 1000 + this.#config.CAKEMAIL_TIMEOUT_MS,
      );
      kill.unref();
      live.worker.once('exit', () => clearTimeout(kill));
    });
    return live.retirement;
  }

  #onExit(slot: Slot, live: LiveWorker, code: number | null, signal: string | null): void {
    this.#live.delete(live.worker.id);
    live.channel.rejectAll('worker exited');
    this.#readyWaiters.get(live.worker.id)?.(false);
    this.emit('exit', live);
    const expected = live.retiring || this.#stopping;
    this.#log[expected ? 'info' : 'error'](
      { event: 'worker.exit', slot: slot.index, workerPid: live.worker.process.pid, code, signal, expected },
      expected ? 'worker exited' : 'worker crashed',
    );
    // The slot's worker is its current one, or — before any became ready — the one starting.
    // An old generation, or a failed rolling replacement while the old one serves, is not.
    const ownsSlot = slot.current === live || (slot.current === undefined && !live.retiring);
    if (!ownsSlot) return;
    slot.current = undefined;
    if (this.#stopping) {
      slot.state = 'stopped';
      this.#publishStates();
      return;
    }
    if (expected) return; // rolling restart: the replacement is (being) made by rollingRestart()
    workerRestartsTotal.inc({ reason: 'crash' });
    const now = Date.now();
    slot.crashes = [...slot.crashes.filter((t) => now - t < 60_000), now];
    if (slot.crashes.length > this.#config.WORKER_CRASH_LOOP_LIMIT) {
      slot.state = 'crashlooping';
      this.#log.fatal(
        { event: 'worker.crashloop', slot: slot.index, crashes: slot.crashes.length },
        'worker slot crash-looping; not restarting it',
      );
      this.#publishStates();
      return;
    }
    const delay = Math.min(30_000, this.#config.WORKER_RESTART_DELAY_MS * 2 ** (slot.crashes.length - 1));
    slot.state = 'backoff';
    this.#publishStates();
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (!this.#stopping) void this.#fork(slot);
    }, delay);
  }

  #publishStates(): void {
    for (const state of STATES)
      workerStates.set({ state }, this.#slots.filter((s) => s.state === state).length);
    this.emit('change');
  }
}
