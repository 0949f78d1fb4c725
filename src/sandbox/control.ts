/**
 * The /__sandbox/* control surface, for other processes (benchmarks, fault tests, a
 * person with curl): faults, counters and the outbox. Never faulted, never counted.
 *
 *   GET    /__sandbox/health   {"ok":true}
 *   GET    /__sandbox/faults   current FaultSpec or null
 *   PUT    /__sandbox/faults   set a FaultSpec (JSON body); 400 with {"error"} when invalid
 *   DELETE /__sandbox/faults   clear
 *   GET    /__sandbox/stats    SandboxStats        DELETE resets the counters
 *   GET    /__sandbox/outbox   OutboxEntry[]       DELETE forgets them (files stay)
 *                              ?since=<n> skips the first n entries (polling without re-reading)
 */
import { parseFaultSpec, type FaultSpec } from './faults.ts';
import { json, type Reply } from './http-util.ts';
import type { OutboxEntry } from './outbox.ts';

export interface SandboxStats {
  token: number;
  refresh: number;
  senders: number;
  emails: number;
  accepted: number;
  rejectedInvalid: number;
  faulted: number;
}

export interface ControlTarget {
  getFaults(): FaultSpec | null;
  setFaults(f: FaultSpec | null): void;
  stats(): SandboxStats;
  resetStats(): void;
  outbox(): OutboxEntry[];
  clearOutbox(): void;
}

export const CONTROL_PREFIX = '/__sandbox/';

export function handleControl(
  method: string,
  path: string,
  query: URLSearchParams,
  body: Buffer,
  t: ControlTarget,
): Reply {
  const what = path.slice(CONTROL_PREFIX.length);
  const notAllowed = json(405, { detail: 'Method Not Allowed' });
  switch (what) {
    case 'health':
      return json(200, { ok: true });
    case 'faults':
      if (method === 'GET') return json(200, t.getFaults());
      if (method === 'DELETE') {
        t.setFaults(null);
        return json(200, null);
      }
      if (method === 'PUT' || method === 'POST') {
        let spec: FaultSpec | null;
        try {
          const parsed: unknown = JSON.parse(body.toString('utf8') || 'null');
          spec = parsed === null ? null : parseFaultSpec(parsed);
        } catch (err) {
          return json(400, { error: (err as Error).message });
        }
        t.setFaults(spec);
        return json(200, t.getFaults());
      }
      return notAllowed;
    case 'stats':
      if (method === 'GET') return json(200, t.stats());
      if (method === 'DELETE') {
        t.resetStats();
        return json(200, t.stats());
      }
      return notAllowed;
    case 'outbox': {
      if (method === 'GET') {
        const since = Number(query.get('since') ?? 0);
        const all = t.outbox();
        return json(200, Number.isInteger(since) && since > 0 ? all.slice(since) : all);
      }
      if (method === 'DELETE') {
        t.clearOutbox();
        return json(200, { cleared: true });
      }
      return notAllowed;
    }
    default:
      return json(404, { detail: 'Not Found' });
  }
}
