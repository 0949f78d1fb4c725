// Postfix as the customer's MTA: `sendmail` → a private Postfix instance → relayhost =
// the gateway, SASL (PLAIN/LOGIN) over mandatory STARTTLS → the sandbox Cakemail API.
// Also the MTA retry path: a 451 makes Postfix defer, its retry of the same message
// sends only what is missing (one email per recipient in the end).
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { FAST_DELIVERY, outboxOf, req, startE2E, until, type E2E } from '../helpers/sandbox.ts';
import { HAVE_POSTFIX, startPostfix, type PostfixInstance } from '../helpers/postfix.ts';

const SKIP = !HAVE_POSTFIX && '/usr/sbin/postfix is not installed (CI installs it: .ci/install-system-deps)';
const ATTEMPTS = Number(FAST_DELIVERY.DELIVERY_MAX_ATTEMPTS);
const DEMO = { user: 'demo@cakemail.test', pass: 'demo-password' };

let e: E2E;
let pf: PostfixInstance;
const extra: PostfixInstance[] = [];
before(async () => {
  if (SKIP) return;
  // One recipient at a time (faults hit them in a known order); no lockout from the
  // wrong-password test below.
  e = await startE2E({ env: { DELIVERY_CONCURRENCY: '1', AUTH_LOCKOUT_THRESHOLD: '0' } });
  pf = await startPostfix({ relayPort: e.gw.smtpPort, ...DEMO });
});
after(async () => {
  await Promise.all([pf, ...extra].map((p) => p?.stop()));
  await e?.stop();
});
beforeEach(() => e?.reset());

/** Postfix log lines about deliveries to `rcpt` (one per attempt). */
const deliveries = (log: string, rcpt: string) =>
  log.split('\n').filter((l) => l.includes(` to=<${rcpt}>,`) && l.includes('status='));

async function waitForStatus(p: PostfixInstance, rcpts: readonly string[], status: string) {
  await until(
    async () => {
      const log = await p.maillog();
      return rcpts.every((r) => deliveries(log, r).some((l) => l.includes(`status=${status} `)));
    },
    `status=${status} for ${rcpts.join(', ')}`,
    30_000,
  );
}

const message = (subject: string, id: string, to: string) =>
  [
    'From: Demo <demo@cakemail.test>',
    `To: ${to}`,
    `Subject: ${subject}`,
    `Message-ID: <${id}@client.postfix.test>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    'Relayed by Postfix. Zoë ✓',
    '.leading dot line',
    '',
  ].join('\n');

test('sendmail → Postfix (SASL over STARTTLS) → gateway → outbox', { skip: SKIP }, async () => {
  const from = e.gw.lines.length;
  const sent = await pf.sendmail(
    DEMO.user,
    ['rcpt@example.com'],
    message('via postfix', 'pf-1', 'rcpt@example.com'),
  );
  assert.equal(sent.code, 0, sent.stderr);
  const flushed = await pf.flush();
  assert.equal(flushed.code, 0, flushed.stderr);

  const [entry] = await outboxOf(e.sb, 1, 30_000);
  assert.deepEqual(entry!.request, {
    email: 'rcpt@example.com',
    sender: { id: 'snd-1001-demo', name: 'Demo' },
    content: {
      subject: 'via postfix',
      text: 'Relayed by Postfix. Zoë ✓\n.leading dot line\n',
      encoding: 'utf-8',
      type: 'transactional',
    },
    // Received and Date, which Postfix adds, describe the hop: not forwarded.
    additional_headers: [{ name: 'Message-ID', value: '<pf-1@client.postfix.test>' }],
  });

  await waitForStatus(pf, ['rcpt@example.com'], 'sent');
  const log = await pf.maillog();
  assert.match(
    log,
    new RegExp(`TLS connection established to 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${e.gw.smtpPort}`),
  );
  assert.match(
    deliveries(log, 'rcpt@example.com')[0]!,
    /status=sent \(250 2\.0\.0 Ok: queued as [0-9A-Z]+\)$/,
  );
  // The gateway saw TLS first, then a SASL login with the relay credentials.
  const tls = await e.gw.waitForLog((l) => l.event === 'smtp.tls', 5000, from);
  const auth = await e.gw.waitForLog((l) => l.event === 'smtp.auth' && l.outcome === 'success', 5000, from);
  assert.equal(auth.username, DEMO.user);
  assert.match(String(auth.method), /^(PLAIN|LOGIN)$/);
  assert.ok(e.gw.lines.indexOf(tls) < e.gw.lines.indexOf(auth), 'AUTH only after STARTTLS');
  await until(async () => (await pf.queue()).length === 0, 'an empty Postfix queue');
});

test(
  '451 partial → Postfix defers; its retry sends only the rest: one email per recipient',
  { skip: SKIP },
  async () => {
    const rcpts = ['p1@example.com', 'p2@example.com', 'p3@example.com'];
    // p1 and p2 fail with 500 on every attempt, p3 is accepted.
    e.sb.setFaults({ status: 500, endpoints: ['emails'], remaining: 2 * ATTEMPTS });
    const sent = await pf.sendmail(DEMO.user, rcpts, message('retried by postfix', 'pf-2', rcpts.join(', ')));
    assert.equal(sent.code, 0, sent.stderr);
    await pf.flush();
    await waitForStatus(pf, rcpts, 'deferred');
    let log = await pf.maillog();
    for (const r of rcpts) {
      assert.match(
        deliveries(log, r)[0]!,
        /said: 451 4\.3\.0 Accepted for 1 of 3 recipients; send the same message again/,
      );
    }
    assert.deepEqual(
      e.sb.outbox().map((x) => req(x).email),
      ['p3@example.com'],
    );
    // smtp(8) logs status=deferred before qmgr has moved the file into deferred/; a flush in
    // between misses it, and it then waits out the hour-long backoff: flush only once it is there.
    await until(async () => {
      const queue = (await pf.queue()) as { queue_name?: string }[];
      return queue.length === 1 && queue[0]?.queue_name === 'deferred';
    }, 'the message in the deferred queue');

    const flushed = await pf.flush();
    assert.equal(flushed.code, 0, flushed.stderr);
    await waitForStatus(pf, rcpts, 'sent');
    const entries = await outboxOf(e.sb, 3);
    assert.deepEqual(entries.map((x) => req(x).email).sort(), rcpts);
    assert.equal(e.sb.stats().emails, 2 * ATTEMPTS + 1 + 2, 'the retry posted p1 and p2 only');
    log = await pf.maillog();
    for (const r of rcpts) {
      const lines = deliveries(log, r);
      assert.equal(lines.length, 2, lines.join('\n'));
      assert.match(
        lines[1]!,
        /status=sent \(250 2\.0\.0 Ok: queued as [0-9A-Z]+ \(already accepted earlier for 1 recipient\(s\), not sent twice\)\)$/,
      );
    }
    await until(async () => (await pf.queue()).length === 0, 'an empty Postfix queue');
  },
);

test('wrong relay password → Postfix defers with the gateway 535; nothing sent', { skip: SKIP }, async () => {
  const bad = await startPostfix({ relayPort: e.gw.smtpPort, user: DEMO.user, pass: 'not-the-password' });
  extra.push(bad);
  const sent = await bad.sendmail(DEMO.user, ['x@example.com'], message('bad auth', 'pf-3', 'x@example.com'));
  assert.equal(sent.code, 0, sent.stderr);
  await bad.flush();
  await waitForStatus(bad, ['x@example.com'], 'deferred');
  const [line] = deliveries(await bad.maillog(), 'x@example.com');
  assert.match(
    line!,
    /SASL authentication failed; server 127\.0\.0\.1\[127\.0\.0\.1\] said: 535 5\.7\.8 Authentication failed/,
  );
  assert.deepEqual(e.sb.outbox(), []);
});

test(
  'Postfix with a TLS session cache resumes its session on its next connections',
  { skip: SKIP },
  async () => {
    const cached = await startPostfix({
      relayPort: e.gw.smtpPort,
      ...DEMO,
      extra: [
        'smtp_tls_session_cache_database = btree:${data_directory}/smtp_scache',
        // A connection per delivery: no SMTP connection reuse to hide the TLS one.
        'smtp_connection_cache_on_demand = no',
      ],
    });
    extra.push(cached);
    const from = e.gw.lines.length;
    for (let i = 1; i <= 3; i++) {
      const to = `resume-${i}@example.com`;
      const sent = await cached.sendmail(DEMO.user, [to], message(`resume ${i}`, `pf-r${i}`, to));
      assert.equal(sent.code, 0, sent.stderr);
      await cached.flush();
      await waitForStatus(cached, [to], 'sent');
    }
    await outboxOf(e.sb, 3, 30_000);
    // Postfix keeps the newest session of the destination, and round robin sends each new
    // connection to the other worker: with per-worker ticket keys none of these resumed.
    const handshakes = e.gw.lines.slice(from).filter((l) => l.event === 'smtp.tls');
    assert.deepEqual(
      handshakes.map((l) => l.resumed),
      [false, true, true],
    );
  },
);
