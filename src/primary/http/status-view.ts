/**
 * The status snapshot as the page shows it: texts for single fields, rows of cells for
 * tables, classes for badges. The server renders this into HTML and sends the very same
 * structure in /status.json, where the page's script applies it with textContent only —
 * one formatting, and no client-controlled string ever reaches an HTML parser unescaped.
 */
import type { StatusSnapshot } from './status-snapshot.ts';

export interface Cell {
  text: string;
  cls?: string;
  /** A same-origin path (built here, never taken from a client). */
  href?: string;
  span?: number;
}
export interface Row {
  cells: Cell[];
  cls?: string;
}
export interface StatusView {
  fields: Record<string, string>;
  classes: Record<string, string>;
  tables: Record<string, Row[]>;
}

export const WORKER_COLUMNS = ['slot', 'state', 'pid', 'generation', 'crashes (60 s)'];
export const RATE_COLUMNS = ['outcome', 'per second', 'total'];
export const ERROR_COLUMNS = ['time', 'event', 'message', 'detail'];
export const OUTBOX_COLUMNS = ['time', 'from', 'to', 'subject', ''];

export function formatTime(iso: string): string {
  return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '';
}

function percent(ratio: number | null): string {
  return ratio === null ? '—' : `${(ratio * 100).toFixed(ratio > 0 && ratio < 0.01 ? 2 : 1)} %`;
}

const empty = (text: string, span: number): Row[] => [{ cells: [{ text, span, cls: 'empty' }] }];

export function messageHref(id: string): string {
  return `/outbox/${encodeURIComponent(id)}`;
}

export function buildView(s: StatusSnapshot): StatusView {
  const listening = s.workers.filter((w) => w.state === 'listening').length;
  const up = s.upstream;
  const fields: Record<string, string> = {
    'generated-at': formatTime(s.generatedAt),
    readiness: s.readiness.ready ? 'ready' : `not ready: ${s.readiness.reason ?? ''}`,
    'workers-summary': `${listening} of ${s.workers.length} listening`,
    connections: String(s.connections),
    'rate-window':
      s.rateWindowSeconds === null
        ? 'rates appear at the next refresh'
        : `over the last ${s.rateWindowSeconds.toFixed(1)} s`,
    'upstream-url': `${up.url}${up.sandbox ? ' (embedded sandbox)' : ''}`,
    breaker: up.breaker,
    'api-error-ratio': `${percent(up.errorRatio)}${up.errorRatioScope ? ` (${up.errorRatioScope})` : ''}`,
    'api-calls': `${up.apiCalls} calls, ${up.apiErrors} failed`,
    'outbox-error': s.outboxError ?? '',
  };
  const classes: Record<string, string> = {
    readiness: s.readiness.ready ? 'badge ok' : 'badge bad',
    breaker: `badge ${up.breaker === 'closed' ? 'ok' : up.breaker === 'unknown' ? 'muted' : 'bad'}`,
  };
  const tables: Record<string, Row[]> = {
    'workers-body': s.workers.map((w) => ({
      cls: `worker state-${w.state}`,
      cells: [
        { text: String(w.slot) },
        { text: w.state, cls: `state state-${w.state}` },
        { text: w.pid === null ? '' : String(w.pid), cls: 'pid' },
        { text: String(w.generation) },
        { text: String(w.crashes), cls: w.crashes > 0 ? 'warn' : '' },
      ],
    })),
    'rates-body': s.messages.map((m) => ({
      cls: `rate rate-${m.status}`,
      cells: [
        { text: m.status },
        { text: m.perSecond === null ? '—' : m.perSecond.toFixed(2), cls: 'num' },
        { text: String(m.total), cls: 'num' },
      ],
    })),
    'errors-body':
      s.recentErrors.length === 0
        ? empty('no error since start', ERROR_COLUMNS.length)
        : s.recentErrors.map((e) => ({
            cls: `event level-${e.level}`,
            cells: [{ text: formatTime(e.at) }, { text: e.event }, { text: e.message }, { text: e.detail }],
          })),
  };
  if (s.outbox !== null)
    tables['outbox-body'] =
      s.outbox.length === 0
        ? empty('no message yet', OUTBOX_COLUMNS.length)
        : s.outbox.map((m) => ({
            cls: 'message',
            cells: [
              { text: formatTime(m.receivedAt), cls: 'time' },
              { text: m.senderName ? `${m.senderName} · ${m.senderId}` : m.senderId, cls: 'from' },
              { text: m.to, cls: 'to' },
              { text: m.subject, cls: 'subject' },
              { text: 'view', href: messageHref(m.id), cls: 'view' },
            ],
          }));
  return { fields, classes, tables };
}
