/**
 * The status page's view of the sandbox outbox (only when the sandbox is the upstream):
 * the last few accepted emails, read from `GET <sandbox>/__sandbox/outbox`.
 *
 * The sandbox keeps up to thousands of full requests (attachments included), so the
 * primary never re-reads the whole list: it asks only for what follows the last entry it
 * saw (`?since=`), re-reading that one entry to check the list did not change under it
 * (cleared, or its oldest entries evicted). On a mismatch it re-reads a bounded tail.
 * What it keeps is a small summary per email, bodies truncated, attachments dropped.
 */

export interface OutboxMessage {
  id: string;
  receivedAt: string;
  /** The SMTP user (Cakemail username) that submitted it. */
  username: string;
  accountId: number;
  to: string;
  senderId: string;
  senderName: string;
  subject: string;
  type: string;
  text: string | undefined;
  html: string | undefined;
  truncated: boolean;
  attachments: string[];
}

interface RawEntry {
  id?: unknown;
  receivedAt?: unknown;
  accountId?: unknown;
  username?: unknown;
  request?: {
    email?: unknown;
    sender?: { id?: unknown; name?: unknown };
    content?: { subject?: unknown; text?: unknown; html?: unknown; type?: unknown };
    attachment?: unknown;
  };
}

export const OUTBOX_SHOWN = 20;
const BODY_MAX = 200_000;
const FETCH_TIMEOUT_MS = 1_000;

const str = (v: unknown): string =>
  typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);

function clip(v: unknown): { value: string | undefined; clipped: boolean } {
  if (typeof v !== 'string') return { value: undefined, clipped: false };
  return v.length > BODY_MAX ? { value: v.slice(0, BODY_MAX), clipped: true } : { value: v, clipped: false };
}

export function summarize(raw: RawEntry): OutboxMessage {
  const r = raw.request ?? {};
  const text = clip(r.content?.text);
  const html = clip(r.content?.html);
  const attachments = (Array.isArray(r.attachment) ? r.attachment : r.attachment ? [r.attachment] : []).map(
    (a: unknown) => str((a as { filename?: unknown } | null)?.filename),
  );
  return {
    id: str(raw.id),
    receivedAt: str(raw.receivedAt),
    username: str(raw.username),
    accountId: typeof raw.accountId === 'number' ? raw.accountId : 0,
    to: str(r.email),
    senderId: str(r.sender?.id),
    senderName: str(r.sender?.name),
    subject: str(r.content?.subject),
    type: str(r.content?.type),
    text: text.value,
    html: html.value,
    truncated: text.clipped || html.clipped,
    attachments,
  };
}

export class SandboxOutboxTail {
  readonly #base: string;
  /** Newest last, at most OUTBOX_SHOWN. */
  #recent: OutboxMessage[] = [];
  /** How many entries the sandbox list held at the last read. */
  #seen = 0;
  #lastId: string | undefined;

  constructor(sandboxUrl: string) {
    this.#base = sandboxUrl.replace(/\/+$/, '') + '/__sandbox/outbox';
  }

  /** Newest first. */
  recent(): OutboxMessage[] {
    return [...this.#recent].reverse();
  }

  byId(id: string): OutboxMessage | undefined {
    return this.#recent.find((m) => m.id === id);
  }

  async refresh(): Promise<void> {
    if (this.#seen === 0) return this.#replace(0);
    const since = this.#seen - 1;
    const page = await this.#read(since);
    if (page.length > 0 && str(page[0]?.id) === this.#lastId) {
      this.#append(page.slice(1));
      this.#seen = since + page.length;
      return;
    }
    // Cleared (nothing at our index any more) or shifted by eviction: read a bounded tail again.
    if (page.length === 0) return this.#replace(0);
    return this.#replace(Math.max(0, since - OUTBOX_SHOWN));
  }

  async #replace(since: number): Promise<void> {
    const page = await this.#read(since);
    this.#recent = [];
    this.#append(page);
    this.#seen = since + page.length;
  }

  #append(entries: RawEntry[]): void {
    const last = entries.at(-1);
    if (last) this.#lastId = str(last.id);
    else if (this.#recent.length === 0) this.#lastId = undefined;
    this.#recent.push(...entries.slice(-OUTBOX_SHOWN).map(summarize));
    if (this.#recent.length > OUTBOX_SHOWN) this.#recent.splice(0, this.#recent.length - OUTBOX_SHOWN);
  }

  async #read(since: number): Promise<RawEntry[]> {
    const res = await fetch(since > 0 ? `${this.#base}?since=${since}` : this.#base, {
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    if (!res.ok) throw new Error(`sandbox outbox answered HTTP ${res.status}`);
    const body: unknown = await res.json();
    if (!Array.isArray(body)) throw new Error('sandbox outbox answer is not a list');
    return body as RawEntry[];
  }
}
