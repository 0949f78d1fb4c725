/**
 * The options of `node bench/run.ts` (its header lists them), parsed and checked before
 * anything starts: a typo must not cost a 25-minute run.
 */
import { parseBytes, type CustomLoad } from './scenarios.ts';

export const ALL = ['a', 'b', 'c', 'd', 'e', 'f', 'layers', 'sched', 'profile'];
/** Selectable but not part of "everything": its shape comes from the load options. */
const KNOWN = [...ALL, 'custom'];

export function parseArgs(argv: string[]) {
  const opts = {
    quick: false,
    selected: ALL,
    workers: 2,
    sched: 'rr' as 'rr' | 'none',
    write: undefined as boolean | undefined,
    nodeOptions: '',
    merge: '',
    gatewayOnly: false,
    certKey: 'rsa' as 'rsa' | 'ec',
    env: {} as Record<string, string>,
    custom: {} as CustomLoad,
  };
  let scenarioGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') opts.quick = true;
    else if (a === '--scenario') {
      scenarioGiven = true;
      opts.selected = value()
        .split(',')
        .map((s) => s.trim().toLowerCase())
        .filter(Boolean);
    } else if (a === '--sessions') opts.custom.sessions = count(a, value(), 1);
    else if (a === '--per-connection') opts.custom.messagesPerConnection = count(a, value(), 0);
    else if (a === '--bytes') opts.custom.messageBytes = parseBytes(value());
    else if (a === '--pdf') opts.custom.pdf = true;
    else if (a === '--recipients') opts.custom.recipients = count(a, value(), 1);
    else if (a === '--duration') opts.custom.durationMs = count(a, value(), 1) * 1000;
    else if (a === '--rate') opts.custom.ratePerSec = count(a, value(), 0);
    else if (a === '--resume') opts.custom.resumeTls = true;
    else if (a === '--workers') opts.workers = Number(value());
    else if (a === '--sched') opts.sched = value() === 'none' ? 'none' : 'rr';
    else if (a === '--node-options') opts.nodeOptions = value();
    else if (a === '--merge') opts.merge = value();
    else if (a === '--env') {
      const [k, ...v] = value().split('=');
      if (!k || v.length === 0) throw new Error('--env needs KEY=VALUE');
      opts.env[k] = v.join('=');
    } else if (a === '--gateway-only') opts.gatewayOnly = true;
    else if (a === '--cert') {
      const v = value();
      if (v !== 'rsa' && v !== 'ec') throw new Error('--cert is rsa or ec');
      opts.certKey = v;
    } else if (a === '--write') opts.write = true;
    else if (a === '--no-write') opts.write = false;
    else throw new Error(`unknown option ${a}`);
  }
  const customised = Object.keys(opts.custom).length > 0;
  if (customised && !scenarioGiven) opts.selected = ['custom'];
  if (customised && !opts.selected.includes('custom'))
    throw new Error('the load options shape --scenario custom only');
  if (opts.custom.pdf && (opts.custom.messageBytes ?? 0) < 4096)
    throw new Error('--pdf needs --bytes of at least 4k (the attachment is sized to the message)');
  const unknown = opts.selected.filter((s) => !KNOWN.includes(s));
  if (unknown.length)
    throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${KNOWN.join(', ')}`);
  return opts;
}

/** A whole number of at least `min`, or an error naming the option. */
function count(option: string, text: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`${option} needs a whole number of at least ${min}`);
  return n;
}
