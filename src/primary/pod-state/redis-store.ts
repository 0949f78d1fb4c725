/**
 * SharedStore in Redis (REDIS_URL): the rate limit per IP, AUTH lockouts and the delivery
 * ledger become fleet-wide, so every pod sees the same counters.
 *
 * Redis is an optimisation of the limits, never a dependency of mail: when it is
 * unreachable (or slow past COMMAND_TIMEOUT_MS) every call falls back to the pod's
 * MemoryStore, `gateway_shared_state_degraded` is 1 and one log line says so; when the
 * connection is ready again the store goes back to Redis and says so. Commands fail fast
 * while disconnected (no offline queue), so a dead Redis costs a rejected promise, not a wait.
 *
 * Atomicity: the token bucket and the failure counter are Lua scripts (one round trip,
 * no race between pods); time is Redis's own (TIME), so pod clocks do not matter.
 */
import { Redis } from 'ioredis';
import type { Logger } from '../../log.ts';
import { sharedStateDegraded } from '../../metrics/primary-metrics.ts';
import type { LockoutPolicy, SharedStore } from './store.ts';

const COMMAND_TIMEOUT_MS = 500;
const PREFIX = 'cmgw:';
const RETRY_MS = 2_000;

/** Token bucket, capacity ARGV[1] per minute, refilled continuously; returns 1 when a token was taken. */
const RATE_SCRIPT = `
local cap = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or cap
local at = tonumber(b[2]) or now
tokens = math.min(cap, tokens + (now - at) * cap / 60000)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], 60000)
return allowed
`;

/**
 * Counts a failure in a window (KEYS[1], expires ARGV[2] ms after the first failure);
 * at ARGV[1] failures sets the lockout key KEYS[2] for ARGV[3] ms.
 * Returns 2 when this failure locked the IP out, 1 when it already was, 0 otherwise.
 */
const FAILURE_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if redis.call('EXISTS', KEYS[2]) == 1 then return 1 end
if n >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  return 2
end
return 0
`;

export interface RedisStoreOptions {
  url: string;
  lockout: LockoutPolicy;
  /** Used while Redis is unreachable (per-pod behaviour). */
  fallback: SharedStore;
  log: Logger;
}

export class RedisStore implements SharedStore {
  readonly #redis: Redis;
  readonly #lockout: LockoutPolicy;
  readonly #fallback: SharedStore;
  readonly #log: Logger;
  #degraded = true; // until the first 'ready'
  #closing = false;
  #retryAt = 0;
  /** Called when an IP becomes locked out (metrics, logs). */
  onLockout: (ip: string) => void = () => {};

  constructor(opts: RedisStoreOptions) {
    this.#lockout = opts.lockout;
    this.#fallback = opts.fallback;
    this.#log = opts.log;
    sharedStateDegraded.set(1);
    this.#redis = new Redis(opts.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: 2_000,
      // Keep trying for ever, at most every 2 s: recovery is automatic.
      retryStrategy: (times) => Math.min(100 * times, 2_000),
      keyPrefix: PREFIX,
    });
    this.#redis.defineCommand('gwRate', { numberOfKeys: 1, lua: RATE_SCRIPT });
    this.#redis.defineCommand('gwFailure', { numberOfKeys: 2, lua: FAILURE_SCRIPT });
    this.#redis.on('ready', () => this.#setDegraded(false, 'connected'));
    this.#redis.on('error', (err: Error) => this.#setDegraded(true, err.message));
    this.#redis.on('close', () => this.#setDegraded(true, 'connection closed'));
  }

  /** The Lua commands defined in the constructor (ioredis adds them at run time). */
  #scripts(): RedisScripts {
    return this.#redis as unknown as RedisScripts;
  }

  get degraded(): boolean {
    return this.#degraded;
  }

  #setDegraded(degraded: boolean, why: string): void {
    if (this.#closing || degraded === this.#degraded) return;
    this.#degraded = degraded;
    sharedStateDegraded.set(degraded ? 1 : 0);
    if (degraded)
      this.#log.warn(
        { event: 'shared_state.degraded', why },
        'Redis unreachable: limits, lockout and ledger fall back to this pod',
      );
    else this.#log.info({ event: 'shared_state.connected' }, 'Redis shared state in use');
  }

  /**
   * Runs `op` on Redis, or `fallback` when degraded or when the command fails. A command
   * that failed on a connection that stays up (a timeout: Redis hung or overloaded) never
   * brings a new 'ready' event, so while degraded on a ready connection Redis is tried
   * again every RETRY_MS, and the first success ends the degradation.
   */
  async #either<T>(op: (r: Redis) => Promise<T>, fallback: () => Promise<T>): Promise<T> {
    if (this.#degraded && !(this.#redis.status === 'ready' && Date.now() >= this.#retryAt)) return fallback();
    try {
      const result = await op(this.#redis);
      if (this.#degraded) this.#setDegraded(false, 'recovered');
      return result;
    } catch (err) {
      this.#retryAt = Date.now() + RETRY_MS;
      this.#setDegraded(true, (err as Error).message);
      return fallback();
    }
  }

  consumeRate(ip: string, perMinute: number): Promise<boolean> {
    return this.#either(
      async () => (await this.#scripts().gwRate(`rate:${ip}`, perMinute)) === 1,
      () => this.#fallback.consumeRate(ip, perMinute),
    );
  }

  recordAuthFailure(ip: string): Promise<boolean> {
    const { threshold, windowMs, durationMs } = this.#lockout;
    if (threshold === 0) return Promise.resolve(false);
    return this.#either(
      async () => {
        const result = await this.#scripts().gwFailure(
          `authf:${ip}`,
          `lock:${ip}`,
          threshold,
          windowMs,
          durationMs,
        );
        if (result === 2) this.onLockout(ip);
        return result > 0;
      },
      () => this.#fallback.recordAuthFailure(ip),
    );
  }

  async isLockedOut(ip: string): Promise<boolean> {
    // A lockout decided by this pod while Redis was away still holds after it returns.
    if (await this.#fallback.isLockedOut(ip)) return true;
    return this.#either(
      async (r) => (await r.exists(`lock:${ip}`)) === 1,
      async () => false,
    );
  }

  async ledgerAccepted(keys: readonly string[]): Promise<string[]> {
    if (keys.length === 0) return [];
    // Records made on this pod during an outage are only in the fallback: ask both.
    const local = new Set(await this.#fallback.ledgerAccepted(keys));
    const shared = await this.#either(
      async (r) => {
        const values = await r.mget(keys.map((k) => `ledger:${k}`));
        return keys.filter((_, i) => values[i] !== null);
      },
      async () => [],
    );
    for (const k of shared) local.add(k);
    return keys.filter((k) => local.has(k));
  }

  ledgerRecord(keys: readonly string[], ttlSeconds: number): Promise<void> {
    if (keys.length === 0) return Promise.resolve();
    // TTL 0 takes records back (a delivery's claim, src/delivery/claims.ts): EX 0 is an
    // error to Redis, DEL is what it means. Also from the fallback, which may hold them
    // from an outage.
    if (ttlSeconds <= 0) void this.#fallback.ledgerRecord(keys, 0);
    return this.#either(
      async (r) => {
        const pipeline = r.multi();
        for (const k of keys)
          if (ttlSeconds > 0) pipeline.set(`ledger:${k}`, '1', 'EX', ttlSeconds);
          else pipeline.del(`ledger:${k}`);
        const results = await pipeline.exec();
        const failed = results?.find(([err]) => err);
        if (!results || failed) throw failed?.[0] ?? new Error('ledger write aborted');
      },
      () => this.#fallback.ledgerRecord(keys, ttlSeconds),
    );
  }

  async close(): Promise<void> {
    this.#closing = true;
    await this.#fallback.close();
    try {
      await this.#redis.quit();
    } catch {
      this.#redis.disconnect();
    }
  }
}

interface RedisScripts {
  gwRate(key: string, perMinute: number): Promise<number>;
  gwFailure(
    failKey: string,
    lockKey: string,
    threshold: number,
    windowMs: number,
    durationMs: number,
  ): Promise<number>;
}
