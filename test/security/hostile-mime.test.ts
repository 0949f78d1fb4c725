// Hostile MIME end to end: generated messages (deep nesting, thousands of parts, huge
// headers, broken boundaries, bad base64, bad charsets) over real SMTP → real gateway →
// sandbox. Every message gets a clear refusal from our table or a 250 with an outbox entry
// (the sandbox validates each request against Cakemail's schema, so an entry is
// schema-valid); never "Cakemail refused" (we built an invalid request), never a local
// error, never a crash, and each answer within a bound.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { DEMO, authedClient, sendBytes, startE2E, type E2E } from '../helpers/sandbox.ts';
import type { SmtpTestClient, Reply } from '../helpers/smtp-client.ts';

const PER_MESSAGE_MS = 15_000;
/** Replies a hostile message may get: accepted, or refused for its content. */
const ALLOWED =
  /^(250 2\.0\.0 Ok|552 5\.3\.4 |554 5\.6\.0 Message (structure too complex|cannot be converted)|554 5\.6\.1 )/;

let e: E2E;
let client: SmtpTestClient | undefined;
before(async () => {
  e = await startE2E({ env: { SMTP_WORKERS: '2', RATE_LIMIT_PER_IP: '0', MESSAGE_SIZE_LIMIT: '10485760' } });
});
after(async () => {
  client?.destroy();
  await e?.stop();
});

async function send(raw: Buffer): Promise<{ reply: Reply; ms: number }> {
  if (!client || client.closed) client = await authedClient(e.gw.smtpPort);
  const before = e.sb.outbox().length;
  const started = Date.now();
  const reply = await sendBytes(client, DEMO.user, ['rcpt@example.com'], raw);
  const ms = Date.now() - started;
  const line = reply.lines.at(-1) ?? '';
  assert.match(line, ALLOWED, `unexpected reply for a hostile message: ${reply.text}`);
  assert.ok(ms < PER_MESSAGE_MS, `answered after ${ms} ms`);
  if (reply.code === 250 && /already accepted earlier/.test(reply.text)) {
    // The generator produced the same message twice (or fast-check replays one while
    // shrinking): the duplicate-skip ledger rightly sends nothing the second time.
    assert.equal(e.sb.outbox().length, before, 'a skipped duplicate with an outbox entry');
  } else if (reply.code === 250) {
    await e.sb.flushOutbox();
    assert.equal(e.sb.outbox().length, before + 1, 'a 250 without exactly one outbox entry');
  } else {
    assert.equal(e.sb.outbox().length, before, 'a refusal with an outbox entry');
  }
  return { reply, ms };
}

const CRLF = '\r\n';
const head = (extra: string[] = []) =>
  [`From: ${DEMO.user}`, 'To: rcpt@example.com', 'Subject: hostile', 'MIME-Version: 1.0', ...extra].join(
    CRLF,
  ) + CRLF;

function nested(depth: number, leaf: string): string {
  let body = leaf;
  for (let i = depth; i > 0; i--) {
    const b = `b${i}`;
    body = `Content-Type: multipart/mixed; boundary="${b}"${CRLF}${CRLF}--${b}${CRLF}${body}${CRLF}--${b}--${CRLF}`;
  }
  return body;
}
const textPart = (text: string, extra = '') =>
  `Content-Type: text/plain; charset=utf-8${extra}${CRLF}${CRLF}${text}`;

function manyParts(n: number): string {
  const parts = Array.from({ length: n }, (_, i) => `--m${CRLF}${textPart(`part ${i}`)}${CRLF}`).join('');
  return `Content-Type: multipart/mixed; boundary="m"${CRLF}${CRLF}${parts}--m--${CRLF}`;
}

test('extremes: 500-level nesting, 5,000 parts, a 2 MB header', async (t) => {
  const cases: Record<string, Buffer> = {
    'nesting 500': Buffer.from(head() + nested(500, textPart('deep'))),
    'parts 5000': Buffer.from(head() + manyParts(5000)),
    'header 2 MB': Buffer.from(head([`X-Big: ${'a'.repeat(2 * 1024 * 1024)}`]) + CRLF + 'body' + CRLF),
    'header 2 MB folded': Buffer.from(
      head([`X-Folded: ${Array.from({ length: 40_000 }, () => 'x'.repeat(50)).join(`${CRLF} `)}`]) +
        CRLF +
        'b',
    ),
  };
  for (const [name, raw] of Object.entries(cases)) {
    const { reply, ms } = await send(raw);
    t.diagnostic(`${name}: ${reply.lines.at(-1)} (${ms} ms)`);
    assert.ok(reply.code >= 500, `${name} should be refused as too complex: ${reply.text}`);
  }
});

test('property: generated hostile MIME gets a clear answer, never a crash or an invalid request', async (t) => {
  const tally = new Map<string, number>();
  const charset = fc.constantFrom(
    'utf-8',
    'iso-8859-1',
    'x-unknown-🙂',
    'utf-7',
    'iso-2022-jp',
    '',
    '"',
    'utf-16',
  );
  const cte = fc.constantFrom('7bit', '8bit', 'base64', 'quoted-printable', 'x-uuencode', 'binary', 'bogus');
  const junk = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1'));
  const badBase64 = fc.constantFrom('!!!!', 'QUJD=RA==', '====', 'YWJj\r\nZ=GVm', 'A', '\0\0');
  const leaf = fc
    .record({
      type: fc.constantFrom(
        'text/plain',
        'text/html',
        'application/pdf',
        'image/png',
        'message/rfc822',
        'x/y',
      ),
      charset,
      cte,
      body: fc.oneof(junk, badBase64, fc.string({ maxLength: 200 })),
      disposition: fc.constantFrom(
        '',
        'attachment; filename="a.pdf"',
        'inline',
        'attachment; filename*=bogus',
      ),
    })
    .map(
      (p) =>
        `Content-Type: ${p.type}; charset=${p.charset}${CRLF}Content-Transfer-Encoding: ${p.cte}${CRLF}` +
        (p.disposition ? `Content-Disposition: ${p.disposition}${CRLF}` : '') +
        `${CRLF}${p.body}`,
    );
  const part: fc.Memo<string> = fc.memo((n) =>
    n <= 1
      ? leaf
      : fc.oneof(
          leaf,
          fc
            .record({
              boundary: fc.constantFrom('a', 'b', '', 'a b', '--', 'x'.repeat(80)),
              children: fc.array(part(n - 1), { maxLength: 6 }),
              close: fc.constantFrom('proper', 'missing', 'wrong', 'early'),
            })
            .map(({ boundary, children, close }) => {
              const sep = children.map((c) => `--${boundary}${CRLF}${c}${CRLF}`).join('');
              const end =
                close === 'proper'
                  ? `--${boundary}--`
                  : close === 'wrong'
                    ? `--other--`
                    : close === 'early'
                      ? `--${boundary}--${CRLF}--${boundary}`
                      : '';
              return `Content-Type: multipart/mixed; boundary="${boundary}"${CRLF}${CRLF}${sep}${end}${CRLF}`;
            }),
        ),
  );
  const headers = fc.array(
    fc.oneof(
      fc.constantFrom(
        'Subject: =?utf-8?B?!!!?=',
        'Subject: =?x-bogus?Q?abc?=',
        'Content-Type: multipart/mixed',
        'Content-Type: text/plain; charset=',
        'X-Sender-Id: ',
        'X-Email-Api-Type: nonsense',
        'Date: not a date',
        'To: <<<>>>',
      ),
      junk.map((j) => `X-Junk: ${j.replace(/\r|\n/g, ' ')}`),
    ),
    { maxLength: 5 },
  );
  await fc.assert(
    fc.asyncProperty(headers, part(4), fc.boolean(), async (hs, body, withText) => {
      // Half the time the hostile part sits next to a valid text part, so conversion gets
      // past "no body" and the hostile part reaches the attachment and charset code.
      const mixed = withText
        ? `Content-Type: multipart/mixed; boundary="outer"${CRLF}${CRLF}--outer${CRLF}${textPart('readable')}${CRLF}--outer${CRLF}${body}${CRLF}--outer--${CRLF}`
        : body;
      const { reply } = await send(Buffer.from(head(hs) + mixed, 'latin1'));
      const kind = (reply.lines.at(-1) ?? '').replace(
        /(queued as|exceeds|complex:|converted for Cakemail:|Part) .*/,
        '$1',
      );
      tally.set(kind, (tally.get(kind) ?? 0) + 1);
    }),
    { numRuns: 150, interruptAfterTimeLimit: 60_000, markInterruptAsFailure: false },
  );
  t.diagnostic(JSON.stringify(Object.fromEntries(tally)));
  const accepted = [...tally].filter(([k]) => k.startsWith('250')).reduce((n, [, v]) => n + v, 0);
  const refused = [...tally].filter(([k]) => k.startsWith('5')).reduce((n, [, v]) => n + v, 0);
  assert.ok(accepted > 0 && refused > 0, 'the generator reaches both acceptance and refusal');
});

test('afterwards: no worker crashed, no internal error, ready', async () => {
  const gw = e.gw;
  assert.deepEqual(
    gw.lines.filter((l) => l.event === 'worker.exit' && l.expected === false),
    [],
  );
  assert.deepEqual(
    gw.lines.filter((l) => l.event === 'smtp.internal_error'),
    [],
  );
  assert.equal((await gw.http('/health/ready')).status, 200);
});
