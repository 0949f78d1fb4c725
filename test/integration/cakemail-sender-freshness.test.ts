/**
 * SenderDirectory: a sender the account owner confirms after a lookup. Not finding a
 * sender is a permanent 550, so it must not rest on a cached list older than a few seconds.
 * "The owner confirms it" = the same API address answering from users data where the
 * sender is confirmed (the sandbox signs tokens with one key per process, so the session's
 * token stays valid).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SenderDirectory } from '../../src/cakemail/sender-directory.ts';
import { USERS_FIXTURE } from './sandbox-helpers.ts';
import {
  DEMO,
  ctx,
  makeAuthenticator,
  makeClient,
  startTestSandbox,
  type TestSandbox,
} from './cakemail-helpers.ts';

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

async function usersWithPendingConfirmed(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'senders-confirmed-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const data = JSON.parse(await readFile(USERS_FIXTURE, 'utf8')) as {
    accounts: { senders: { id: string; confirmed: boolean }[] }[];
  };
  for (const a of data.accounts)
    for (const s of a.senders) if (s.id === 'snd-1001-pending') s.confirmed = true;
  const file = join(dir, 'users.json');
  await writeFile(file, JSON.stringify(data));
  return file;
}

test('a sender confirmed after a lookup is found at once, not refused from the cached list', async () => {
  const confirmedFile = await usersWithPendingConfirmed();
  const before: TestSandbox = await startTestSandbox();
  const client = makeClient(before.sb.url);
  cleanup.push(() => client.close());
  let now = Date.now();
  const auth = makeAuthenticator(client);
  const account = await auth.authenticate(DEMO.username, DEMO.password, ctx());
  const dir = new SenderDirectory({ client, authenticator: auth, now: () => now });

  assert.equal((await dir.checkSender(account, 'pending@cakemail.test', ctx())).senderId, undefined);
  // Misses right after a fetch are answered from the list: no call per MAIL FROM.
  assert.equal(await dir.findByAddress(account, 'pending@cakemail.test'), undefined);
  assert.equal(await dir.findByAddress(account, 'nobody@example.com'), undefined);
  assert.equal(before.sb.stats().senders, 1);

  // The owner confirms the sender.
  const port = before.sb.port;
  await before.stop();
  const afterConfirm = await startTestSandbox({ usersFile: confirmedFile, port });
  cleanup.push(() => afterConfirm.stop());

  now += 10_000; // well inside the list's 60 s TTL
  assert.equal((await dir.findByAddress(account, 'pending@cakemail.test'))?.id, 'snd-1001-pending');
  assert.equal(afterConfirm.sb.stats().senders, 1);
  // Hits never refetch; a miss right after is answered from the new list.
  assert.equal((await dir.findById(account, 'snd-1001-demo'))?.id, 'snd-1001-demo');
  assert.equal(await dir.findByAddress(account, 'nobody@example.com'), undefined);
  assert.equal(afterConfirm.sb.stats().senders, 1);
});
