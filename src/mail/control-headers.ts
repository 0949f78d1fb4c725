/**
 * Cakemail's SMTP control headers (CONTRACT §3): they steer API fields, are validated
 * here (a bad value refuses the message naming the header rather than guessing), and are
 * never forwarded. Absent headers fall back to the configured defaults.
 */
import { SmtpReplyError } from '../smtp/replies.ts';
import { type HeaderField, fieldText } from './header-fields.ts';

export interface ControlFields {
  senderId?: string;
  accountId?: number;
  listId?: number;
  type: 'marketing' | 'transactional';
  tags?: string[];
  tracking?: { opens?: boolean; clicks_html?: boolean; clicks_text?: boolean };
}

export interface ControlDefaults {
  readonly defaultType: 'transactional' | 'marketing';
  readonly defaultListId?: number;
}

/** Lower-case names of the control headers: consumed here, stripped from the forwarded headers. */
export const CONTROL_HEADERS: ReadonlySet<string> = new Set([
  'x-list-id',
  'x-email-api-type',
  'x-sender-id',
  'x-tags',
  'x-track-opens',
  'x-track-clicks-html',
  'x-track-clicks-text',
  'x-account-id',
]);

const TAG = /^[a-zA-Z0-9-_]+$/;
const TRACKING = {
  'x-track-opens': 'opens',
  'x-track-clicks-html': 'clicks_html',
  'x-track-clicks-text': 'clicks_text',
} as const;

export function readControlFields(fields: readonly HeaderField[], defaults: ControlDefaults): ControlFields {
  // one value per header; a repeated header must repeat the same value (X-Tags accumulates)
  const values = new Map<string, { name: string; value: string }>();
  const tags: string[] = [];
  for (const f of fields) {
    if (!CONTROL_HEADERS.has(f.lname)) continue;
    const value = fieldText(f.raw);
    if (f.lname === 'x-tags') {
      for (const raw of value.split(',')) {
        const tag = raw.trim();
        if (tag === '') continue;
        if (!TAG.test(tag) || tag.length > 255) {
          throw bad(f.name, value, 'each tag must match [a-zA-Z0-9-_]+ (at most 255 characters)');
        }
        if (!tags.includes(tag)) tags.push(tag);
      }
      continue;
    }
    const seen = values.get(f.lname);
    if (seen && seen.value !== value) throw bad(f.name, value, `it appears twice with different values`);
    values.set(f.lname, { name: f.name, value });
  }

  const control: ControlFields = { type: defaults.defaultType };
  for (const [lname, { name, value }] of values) {
    switch (lname) {
      case 'x-list-id':
        control.listId = positiveInt(name, value);
        break;
      case 'x-account-id':
        control.accountId = positiveInt(name, value);
        break;
      case 'x-email-api-type': {
        const type = value.toLowerCase();
        if (type !== 'marketing' && type !== 'transactional')
          throw bad(name, value, 'expected marketing or transactional');
        control.type = type;
        break;
      }
      case 'x-sender-id':
        // sender ids are opaque strings; anything printable without spaces, bounded
        if (!/^[\x21-\x7e]{1,255}$/.test(value)) throw bad(name, value, 'expected a Cakemail sender id');
        control.senderId = value;
        break;
      default: {
        const key = TRACKING[lname as keyof typeof TRACKING];
        control.tracking = { ...control.tracking, [key]: bool(name, value) };
      }
    }
  }
  if (tags.length > 0) control.tags = tags;
  if (control.listId === undefined && control.type === 'marketing') {
    if (defaults.defaultListId === undefined) {
      throw new SmtpReplyError('mimeInvalid', {
        detail: 'marketing email needs a list: add an X-List-Id header (no default list is configured)',
      });
    }
    control.listId = defaults.defaultListId;
  }
  return control;
}

function positiveInt(name: string, value: string): number {
  if (!/^[0-9]{1,16}$/.test(value)) throw bad(name, value, 'expected a positive integer');
  const n = Number(value);
  if (n < 1 || !Number.isSafeInteger(n)) throw bad(name, value, 'expected a positive integer');
  return n;
}

function bool(name: string, value: string): boolean {
  switch (value.toLowerCase()) {
    case 'true':
    case '1':
    case 'yes':
      return true;
    case 'false':
    case '0':
    case 'no':
      return false;
  }
  throw bad(name, value, 'expected true/false, 1/0 or yes/no');
}

function bad(name: string, value: string, why: string): SmtpReplyError {
  const shown = value.length > 60 ? `${value.slice(0, 60)}...` : value;
  return new SmtpReplyError('mimeInvalid', { detail: `invalid ${name} header "${shown}": ${why}` });
}
