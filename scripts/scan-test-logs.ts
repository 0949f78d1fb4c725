/**
 * npm posttest: the logs of the whole test run (every gateway the tests started, kept in
 * test-results/logs by test/helpers/gateway.ts) must not contain a test password, an AUTH
 * payload or an access token. `--reset` empties the folder (npm pretest).
 *
 * The one deliberate exception is the development-only `sandbox.demo` line, which prints
 * the sandbox's public demo account for newcomers (README, issue: "logs the demo credentials").
 */
import { readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_PASSWORD, TEST_USER } from '../test/fixtures/test-mail-side.ts';

const dir = new URL('../test-results/logs/', import.meta.url).pathname;

if (process.argv.includes('--reset')) {
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

const users = JSON.parse(
  readFileSync(new URL('../test/fixtures/sandbox-users.json', import.meta.url), 'utf8'),
) as {
  users: { username: string; password: string }[];
};
const secrets = new Map<string, string>();
for (const { username, password } of [...users.users, { username: TEST_USER, password: TEST_PASSWORD }]) {
  secrets.set(password, `password of ${username}`);
  secrets.set(
    Buffer.from(`\0${username}\0${password}`).toString('base64'),
    `AUTH PLAIN payload of ${username}`,
  );
  secrets.set(Buffer.from(password).toString('base64'), `AUTH LOGIN password of ${username}`);
}
const JWT = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;

const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.log')) : [];
let lines = 0;
const findings: string[] = [];
for (const file of files) {
  for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
    lines++;
    if (line.includes('"event":"sandbox.demo"')) continue;
    for (const [secret, what] of secrets) if (line.includes(secret)) findings.push(`${file}: ${what}`);
    if (JWT.test(line)) findings.push(`${file}: an access token (JWT)`);
  }
}
if (findings.length > 0) {
  console.error(
    `secret scan: ${findings.length} finding(s) in the test logs:\n${[...new Set(findings)].join('\n')}`,
  );
  process.exit(1);
}
console.log(
  `secret scan: ${lines} log lines from ${files.length} gateway runs, no password, AUTH payload or token`,
);
