// Hostile SMTP dialogue against the real gateway (primary + 2 workers, in-test mail side):
// random bytes, overlong lines, NUL, bare LF/CR, invalid UTF-8, pipelining floods, broken
// AUTH base64, commands out of order. Every reply must be a well-formed 2xx-5xx line, every
// session must end, no worker may crash or log an internal error, and memory stays bounded.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { TEST_PASSWORD, TEST_USER } from '../fixtures/test-mail-side.ts';
import { malformedLines, rawSession, replyCodes, rssKb, type Transcript } from './raw-smtp.ts';

const AUTH = { user: TEST_USER, pass: TEST_PASSWORD };
const RUNS = 200;
const DEADLINE_MS = 8_000;
const RSS_GROWTH_LIMIT_KB = 200 * 1024;

let gw: RunningGateway;
let workerPids: number[] = [];
const rssBefore = new Map<number, number>();

before(async () => {
  gw = await startGateway({
    env: {
      SMTP_WORKERS: '2',
      // The fuzzer fails AUTH on purpose and opens many sessions: keep lockout and
      // per-IP limits out of the way here (they have their own tests).
      AUTH_LOCKOUT_THRESHOLD: '0',
      RATE_LIMIT_PER_IP: '0',
      MAX_CONNECTIONS_PER_IP: '10000',
      CONNECTION_TIMEOUT: '5',
    },
  });
  workerPids = gw.lines
    .filter((l) => l.event === 'worker.listening' && l.role === 'primary')
    .map((l) => l.workerPid as number);
  assert.equal(workerPids.length, 2);
  for (const pid of workerPids) rssBefore.set(pid, (await rssKb(pid))!);
});

after(async () => {
  await gw?.stop();
});

/** Transcript checks shared by every case. `plainStartTls`: drop what follows a STARTTLS 220 (TLS bytes). */
function assertWellFormed(t: Transcript, what: string): void {
  let received = t.received;
  const text = received.toString('latin1');
  const tls = text.search(/(?:^|\r\n)220 /);
  if (tls >= 0) received = received.subarray(0, text.indexOf('\r\n', tls + 2) + 2);
  assert.deepEqual(malformedLines(received), [], `${what}: malformed reply lines`);
  assert.ok(t.closed, `${what}: the session did not end within ${DEADLINE_MS} ms`);
}

const CRLF = '\r\n';
const session = (chunks: (string | Buffer)[], auth = false) =>
  rawSession({ port: gw.smtpPort, chunks, deadlineMs: DEADLINE_MS, ...(auth ? { auth: AUTH } : {}) });
/**
 * The script ends with QUIT and we keep our side open until the server closes: a client
 * half-close would make the server drop replies still pending (smtp-server sockets are
 * not allowHalfOpen), which the fuzz property tolerates but exact transcripts cannot.
 */
const quitSession = (chunks: (string | Buffer)[], auth = false) =>
  rawSession({
    port: gw.smtpPort,
    chunks,
    deadlineMs: DEADLINE_MS,
    endAfter: false,
    ...(auth ? { auth: AUTH } : {}),
  });

describe('hostile SMTP dialogue', () => {
  test('property: random command scripts (binary, NUL, bare LF/CR, invalid UTF-8, broken base64, pipelining)', async () => {
    const verb = fc.constantFrom(
      'EHLO fuzz.test',
      'HELO fuzz.test',
      'MAIL FROM:<user@test.example>',
      'MAIL FROM:<>',
      'MAIL FROM:<user@test.example> SIZE=99999999999999999999',
      'MAIL FROM:<user@test.example> BODY=8BITMIME SMTPUTF8',
      'RCPT TO:<rcpt@example.com>',
      'RCPT TO:<>',
      'RCPT TO:<"a\\"b"@example.com> NOTIFY=NEVER',
      'DATA',
      'BDAT 10 LAST',
      'RSET',
      'NOOP',
      'HELP',
      'VRFY postmaster',
      'EXPN list',
      'STARTTLS',
      'AUTH PLAIN',
      'AUTH LOGIN',
      'AUTH CRAM-MD5',
      'AUTH XOAUTH2 dXNlcj1hAWF1dGg9QmVhcmVyIHgBAQ==',
      '*',
      '.',
      'QUIT',
      'GET / HTTP/1.1',
    );
    const base64ish = fc
      .string({ unit: fc.constantFrom(...'ABCDEFabcdef0123456789+/=-_!*. \t\0'), maxLength: 120 })
      .map((s) => s);
    const brokenAuth = fc.oneof(
      base64ish.map((s) => `AUTH PLAIN ${s}`),
      base64ish.map((s) => `AUTH LOGIN ${s}`),
      base64ish,
      fc.constant(`AUTH PLAIN ${Buffer.from('\0only-user').toString('base64')}`),
      fc.constant(`AUTH PLAIN ${Buffer.from(`\0${TEST_USER}\0wrong`).toString('base64')}`),
      fc.constant(`AUTH PLAIN ${Buffer.from('a\0b\0c\0d').toString('base64')}`),
    );
    const bytes = fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b));
    const invalidUtf8 = fc.constantFrom(
      Buffer.from([0xff, 0xfe, 0xfd]),
      Buffer.from([0xc0, 0xaf]), // overlong '/'
      Buffer.from([0xed, 0xa0, 0x80]), // lone surrogate
      Buffer.from([0xe2, 0x82]), // truncated sequence
      Buffer.from('MAIL FROM:<\u00e9\u00e8@t\u00e9st.example>', 'latin1'),
    );
    const piece = fc.oneof(
      { weight: 6, arbitrary: verb.map((s) => Buffer.from(s)) },
      { weight: 2, arbitrary: brokenAuth.map((s) => Buffer.from(s, 'latin1')) },
      { weight: 2, arbitrary: bytes },
      { weight: 1, arbitrary: invalidUtf8 },
      { weight: 1, arbitrary: verb.map((s) => Buffer.from(s.replace(' ', ' \0'))) },
    );
    const terminator = fc.constantFrom('\r\n', '\r\n', '\r\n', '\n', '\r', '', '\r\r\n', '\0\r\n');
    const step = fc.tuple(piece, terminator).map(([p, t]) => Buffer.concat([p, Buffer.from(t)]));
    const script = fc.record({
      auth: fc.boolean(),
      steps: fc.array(step, { minLength: 1, maxLength: 30 }),
      // one write for the whole script (pipelining) or one write per step
      oneWrite: fc.boolean(),
      // and sometimes hundreds of commands in one extra write
      burst: fc.option(fc.tuple(verb, fc.integer({ min: 100, max: 600 })), { nil: undefined }),
    });

    await fc.assert(
      fc.asyncProperty(script, async ({ auth, steps, oneWrite, burst }) => {
        const chunks: Buffer[] = oneWrite ? [Buffer.concat(steps)] : [...steps];
        if (burst) chunks.push(Buffer.from(`${burst[0]}${CRLF}`.repeat(burst[1])));
        const t = await session(chunks, auth);
        assertWellFormed(t, JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 300)));
      }),
      { numRuns: RUNS, interruptAfterTimeLimit: 75_000, markInterruptAsFailure: false },
    );
  });

  test('a reply that echoes client bytes stays printable ASCII (smtp-server names a bad parameter back)', async () => {
    // Found by the property above (seed 823308035): a duplicate parameter whose name held
    // invalid UTF-8 came back as "501 5.5.4 Error: duplicate \uFFFD parameter", UTF-8 bytes.
    const steps = [
      Buffer.from('RCPT TO:<"a\\"b"@example.com> NOTIFY=NEVER'),
      Buffer.from('EHLO fuzz.test\r'),
      Buffer.from([0x80, 0x0d]),
      Buffer.from([0xe2, 0x82, 0x0d, 0x0a]),
    ];
    const t = await session(steps, true);
    assertWellFormed(t, 'echoed parameter');
    assert.match(t.received.toString('latin1'), /^501 5\.5\.4 Error: duplicate \? parameter\r$/m);
  });

  test('a command line over 1 MB without CRLF: 421 and close, not buffered', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'A');
    const chunks = [Buffer.from('EHLO '), ...Array.from({ length: 20 }, () => chunk)];
    for (const auth of [false, true]) {
      const t = await session(chunks, auth);
      assertWellFormed(t, `overlong line (auth ${auth})`);
      const text = t.received.toString('latin1');
      assert.match(text, /^421 .*(too long)/im, text.slice(0, 300));
    }
  });

  test('a 1 MB line inside DATA is message content, not a command: answered once', async () => {
    const body = `Subject: long line${CRLF}${CRLF}${'x'.repeat(1_100_000)}${CRLF}.${CRLF}QUIT${CRLF}`;
    const t = await quitSession(
      [`MAIL FROM:<${TEST_USER}>${CRLF}RCPT TO:<rcpt@example.com>${CRLF}DATA${CRLF}`, body],
      true,
    );
    assertWellFormed(t, 'long DATA line');
    assert.deepEqual(replyCodes(t.received), [250, 250, 354, 250, 221]);
  });

  test('pipelining abuse: 500 commands in one write get 500 replies in order; unauthenticated floods are cut', async () => {
    const t = await quitSession([`NOOP${CRLF}`.repeat(499) + `QUIT${CRLF}`], true);
    assertWellFormed(t, 'pipelined NOOP');
    const codes = replyCodes(t.received);
    assert.equal(codes.length, 500);
    assert.equal(codes.at(-1), 221, 'QUIT answered last');
    assert.ok(
      codes.slice(0, -1).every((c) => c === 250),
      `codes: ${[...new Set(codes)].join(',')}`,
    );

    // Before AUTH, smtp-server stops a session after a handful of commands (421).
    const flood = await quitSession([`EHLO fuzz.test${CRLF}` + `NOOP${CRLF}`.repeat(499) + `QUIT${CRLF}`]);
    assertWellFormed(flood, 'unauthenticated pipelined NOOP');
    const floodCodes = replyCodes(flood.received);
    assert.equal(floodCodes.at(-1), 421, flood.received.toString('latin1').slice(-200));
    assert.ok(floodCodes.length <= 20, `${floodCodes.length} replies before the cut`);
  });

  test('commands out of order: refused with the right code, nothing accepted', async () => {
    const plain = await quitSession([
      `EHLO fuzz.test${CRLF}DATA${CRLF}RCPT TO:<rcpt@example.com>${CRLF}MAIL FROM:<${TEST_USER}>${CRLF}QUIT${CRLF}`,
    ]);
    assertWellFormed(plain, 'unauthenticated out of order');
    const [ehlo, data, rcpt, mail, quit] = replyCodes(plain.received);
    assert.equal(ehlo, 250);
    assert.ok(data === 503 || data === 530, `DATA before MAIL: ${data}`);
    assert.ok(rcpt === 503 || rcpt === 530, `RCPT before MAIL: ${rcpt}`);
    assert.equal(mail, 530, 'MAIL without AUTH');
    assert.equal(quit, 221);

    const authed = await quitSession(
      [
        `DATA${CRLF}RCPT TO:<rcpt@example.com>${CRLF}`,
        `AUTH PLAIN ${Buffer.from(`\0${TEST_USER}\0${TEST_PASSWORD}`).toString('base64')}${CRLF}`,
        `MAIL FROM:<${TEST_USER}>${CRLF}MAIL FROM:<${TEST_USER}>${CRLF}DATA${CRLF}QUIT${CRLF}`,
      ],
      true,
    );
    assertWellFormed(authed, 'authenticated out of order');
    const codes = replyCodes(authed.received);
    assert.deepEqual(
      codes,
      [503, 503, 503, 250, 503, 503, 221],
      'DATA, RCPT, AUTH twice, MAIL, MAIL twice, DATA',
    );
  });

  test('broken base64 in AUTH PLAIN and AUTH LOGIN: 5xx, never 235', async () => {
    const cases: string[][] = [
      [`AUTH PLAIN !!!!${CRLF}`],
      [`AUTH PLAIN ${Buffer.from('no-separators').toString('base64')}${CRLF}`],
      [`AUTH PLAIN${CRLF}`, `%%%%${CRLF}`],
      [`AUTH LOGIN${CRLF}`, `not base64 at all${CRLF}`, `====${CRLF}`],
      [`AUTH LOGIN ${Buffer.from(TEST_USER).toString('base64')}${CRLF}`, `*${CRLF}`],
      [`AUTH PLAIN ${'A'.repeat(15_000)}${CRLF}`],
    ];
    for (const steps of cases) {
      const t = await rawSession({
        port: gw.smtpPort,
        deadlineMs: DEADLINE_MS,
        starttls: true,
        endAfter: false,
        chunks: [...steps, `QUIT${CRLF}`],
      });
      assertWellFormed(t, steps.join(''));
      const codes = replyCodes(t.received);
      assert.ok(!codes.includes(235), `${steps.join('')}: ${codes.join(',')}`);
    }
  });

  test('NUL, bare LF, bare CR and invalid UTF-8 in commands', async () => {
    const cases: (string | Buffer)[] = [
      `EHLO a\0b${CRLF}MAIL FROM:<a\0b@test.example>${CRLF}`,
      `EHLO bare.lf\nNOOP\nQUIT\n`,
      `EHLO bare.cr\rNOOP\rQUIT\r${CRLF}`,
      Buffer.concat([
        Buffer.from('EHLO '),
        Buffer.from([0xff, 0xc0, 0xaf, 0xed, 0xa0, 0x80]),
        Buffer.from(CRLF),
      ]),
      Buffer.concat([Buffer.from('MAIL FROM:<'), Buffer.from([0xff, 0xfe]), Buffer.from('@x>\r\n')]),
      `\r\n\r\n\r\n${CRLF}`,
    ];
    for (const c of cases) {
      for (const auth of [false, true]) {
        const t = await quitSession([c, `QUIT${CRLF}`], auth);
        assertWellFormed(t, JSON.stringify(c.toString()));
        const codes = replyCodes(t.received);
        assert.ok(codes.at(-1) === 221 || codes.at(-1) === 421, `${JSON.stringify(c)}: ${codes.join(',')}`);
      }
    }
  });

  test('afterwards: no worker crashed, no internal error, same workers, ready, memory bounded', async (t) => {
    const crashes = gw.lines.filter((l) => l.event === 'worker.exit' && l.expected === false);
    assert.deepEqual(crashes, []);
    const internal = gw.lines.filter((l) => l.level >= 50);
    assert.deepEqual(internal, [], 'error-level log lines');
    const listening = gw.lines
      .filter((l) => l.event === 'worker.listening' && l.role === 'primary')
      .map((l) => l.workerPid);
    assert.deepEqual(listening, workerPids, 'no worker was replaced');
    assert.equal((await gw.http('/health/ready')).status, 200);
    for (const pid of workerPids) {
      const now = await rssKb(pid);
      assert.ok(now !== undefined, `worker ${pid} is gone`);
      const growth = now - rssBefore.get(pid)!;
      t.diagnostic(`worker ${pid}: RSS ${rssBefore.get(pid)} kB → ${now} kB`);
      assert.ok(growth < RSS_GROWTH_LIMIT_KB, `worker ${pid} RSS grew by ${growth} kB`);
    }
  });
});
