/**
 * The Bearer-protected endpoints: GET /brands/default/senders and POST /v2/emails.
 * Checks run in FastAPI's order: token (401), query and body validation (422),
 * account access (403), then the business rules (400).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { SubmitEmail } from '../cakemail/types.ts';
import { errorReply, json, type Reply } from './http-util.ts';
import type { Outbox } from './outbox.ts';
import type { ValidationDetail, Validators } from './schema-validator.ts';
import type { AccessClaims, TokenService } from './tokens.ts';
import type { Directory, SandboxAccount, SandboxSender } from './users.ts';

export interface ApiDeps {
  directory: Directory;
  tokens: TokenService;
  validators: Validators;
  outbox: Outbox;
}

export interface ApiRequest {
  headers: IncomingHttpHeaders;
  query: URLSearchParams;
  body: Buffer;
}

/** The outcome of a submit, so the server can count it without parsing the answer. */
export interface SubmitResult {
  reply: Reply;
  accepted: boolean;
  invalid: boolean;
}

function authenticate(headers: IncomingHttpHeaders, tokens: TokenService): AccessClaims | Reply {
  const h = headers.authorization;
  // FastAPI's OAuth2PasswordBearer answers a string detail here, unlike every other error.
  if (h === undefined || !/^bearer\s+\S/i.test(h)) {
    return json(401, { detail: 'Not authenticated' }, { 'www-authenticate': 'Bearer' });
  }
  const v = tokens.verify(h.slice(h.indexOf(' ') + 1).trim());
  if (!v.ok) {
    return v.reason === 'expired'
      ? errorReply(401, 'Token has expired', 'unauthorized')
      : errorReply(401, 'Could not validate credentials', 'unauthorized');
  }
  return v.claims;
}

/** Parses an optional integer query parameter (>= min), collecting pydantic-style problems. */
function queryInt(
  query: URLSearchParams,
  name: string,
  min: number,
  problems: ValidationDetail[],
): number | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  if (!/^[+-]?\d+$/.test(raw.trim())) {
    problems.push({ loc: ['query', name], msg: 'value is not a valid integer', type: 'type_error.integer' });
    return undefined;
  }
  const n = Number(raw);
  if (n < min) {
    problems.push({
      loc: ['query', name],
      msg: `ensure this value is greater than or equal to ${min}`,
      type: 'value_error.number.not_ge',
    });
    return undefined;
  }
  return n;
}

function resolveAccount(
  claims: AccessClaims,
  requested: number | undefined,
  deps: ApiDeps,
): SandboxAccount | Reply {
  const id = requested ?? claims.accounts[0];
  if (id === undefined || !claims.accounts.includes(id)) {
    return errorReply(403, `Access to account ${String(requested)} is forbidden`, 'forbidden');
  }
  const account = deps.directory.accounts.get(id);
  if (account === undefined) return errorReply(403, `Account ${id} does not exist`, 'forbidden');
  return account;
}

const SORT_TERMS = new Set(['name', 'email', 'confirmed']);

export function handleSenders(req: ApiRequest, deps: ApiDeps): Reply {
  const claims = authenticate(req.headers, deps.tokens);
  if ('status' in claims) return claims;
  const problems: ValidationDetail[] = [];
  const accountId = queryInt(req.query, 'account_id', 1, problems);
  const page = queryInt(req.query, 'page', 1, problems) ?? 1;
  const perPage = queryInt(req.query, 'per_page', 1, problems) ?? 50;
  const sort = req.query.get('sort');
  const sortTerm = sort?.replace(/^[-+]/, '');
  if (sortTerm !== undefined && !SORT_TERMS.has(sortTerm)) {
    problems.push({ loc: ['query', 'sort'], msg: 'invalid sort term', type: 'value_error' });
  }
  if (problems.length > 0) return json(422, { detail: problems });
  const account = resolveAccount(claims, accountId, deps);
  if ('status' in account) return account;

  let senders: readonly SandboxSender[] = account.senders;
  if (sortTerm !== undefined) {
    const dir = sort?.startsWith('-') ? -1 : 1;
    const key = sortTerm as 'name' | 'email' | 'confirmed';
    senders = [...senders].sort((a, b) => (a[key] === b[key] ? 0 : a[key] > b[key] ? dir : -dir));
  }
  const data = senders.slice((page - 1) * perPage, page * perPage).map((s) => ({ language: 'en_US', ...s }));
  const withCount = /^(1|true|yes|on)$/i.test(req.query.get('with_count') ?? '');
  const pagination: Record<string, number> = { page, per_page: perPage };
  // Like Cakemail, the total only when asked for: clients must page until a short page.
  if (withCount) pagination.count = senders.length;
  return json(200, { pagination, data });
}

function parseJson(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

/** Rules the schema cannot say but the API enforces (or, where unpublished, is assumed to). */
function businessProblems(b: SubmitEmail): ValidationDetail[] {
  const p: ValidationDetail[] = [];
  // The schema leaves `email` optional; without it there is nobody to send to.
  if (b.email === undefined)
    p.push({ loc: ['body', 'email'], msg: 'field required', type: 'value_error.missing' });
  const c = b.content;
  if (c.html === undefined && c.text === undefined && c.template === undefined) {
    p.push({
      loc: ['body', 'content'],
      msg: 'one of html, text or template is required',
      type: 'value_error',
    });
  }
  if (c.type === 'marketing' && b.list_id === undefined) {
    p.push({
      loc: ['body', 'list_id'],
      msg: 'list_id is required for marketing emails',
      type: 'value_error.missing',
    });
  }
  return p;
}

export async function handleSubmit(
  req: ApiRequest,
  deps: ApiDeps,
  forcedStatus: 'rejected' | 'error' | undefined,
): Promise<SubmitResult> {
  const invalid = (reply: Reply): SubmitResult => ({ reply, accepted: false, invalid: true });
  const claims = authenticate(req.headers, deps.tokens);
  if ('status' in claims) return { reply: claims, accepted: false, invalid: false };
  const queryProblems: ValidationDetail[] = [];
  const accountId = queryInt(req.query, 'account_id', 1, queryProblems);
  const parsed = parseJson(req.body);
  if (!parsed.ok) return invalid(errorReply(400, 'Request body is not valid JSON', 'bad_request'));
  const schemaProblems = deps.validators.submitEmail(parsed.value);
  const problems = [...queryProblems, ...(schemaProblems ?? [])];
  if (schemaProblems === null && problems.length === 0) {
    problems.push(...businessProblems(parsed.value as SubmitEmail));
  }
  if (problems.length > 0) return invalid(json(422, { detail: problems }));
  const body = parsed.value as SubmitEmail;

  const account = resolveAccount(claims, accountId, deps);
  if ('status' in account) return { reply: account, accepted: false, invalid: false };
  const sender = account.senderById.get(body.sender.id);
  if (sender === undefined || !sender.confirmed) {
    const why = sender === undefined ? 'not found' : 'not confirmed';
    return invalid(
      errorReply(400, `Sender ${body.sender.id} ${why} in account ${account.id}`, 'bad_request', [
        'body',
        'sender',
        'id',
      ]),
    );
  }
  for (const h of body.additional_headers ?? []) {
    if (/^(cc|bcc)$/i.test(h.name.trim())) {
      return invalid(
        errorReply(400, `Header ${h.name} is not allowed in additional_headers`, 'bad_request', [
          'body',
          'additional_headers',
        ]),
      );
    }
  }

  const id = randomUUID();
  const email = body.email;
  if (forcedStatus !== undefined) {
    return {
      reply: json(201, { email, object: 'email', submitted: true, data: { id, status: forcedStatus } }),
      accepted: false,
      invalid: false,
    };
  }
  const entry = {
    id,
    receivedAt: new Date().toISOString(),
    accountId: account.id,
    username: claims.sub,
    request: body,
  };
  const backpressure = deps.outbox.add(entry, req.body.length, sender);
  if (backpressure !== undefined) await backpressure;
  return {
    reply: json(201, { email, object: 'email', submitted: true, data: { id, status: 'queued' } }),
    accepted: true,
    invalid: false,
  };
}
