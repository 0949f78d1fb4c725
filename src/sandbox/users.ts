/**
 * The users, accounts and senders the sandbox knows.
 *
 * Users file format (SANDBOX_USERS_FILE / `usersFile`), JSON:
 *
 *   {
 *     "$comment": "keys starting with $ are ignored",
 *     "accounts": [
 *       { "id": 1001, "name": "Demo account",
 *         "senders": [{ "id": "snd-1001-demo", "name": "Demo", "email": "demo@cakemail.test", "confirmed": true }] }
 *     ],
 *     "users": [
 *       { "username": "demo@cakemail.test", "password": "demo-password", "accounts": [1001],
 *         "mfa": { "status": 200, "code": "123456" } }           <- optional: POST /token answers a challenge
 *     ]
 *   }
 *
 * A user's first account is the default account of its tokens (requests without ?account_id=).
 * Usernames are matched case-insensitively, passwords exactly.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

const senderSchema = z.object({
  id: z.string().min(1),
  name: z.string(),
  email: z.string().min(3),
  confirmed: z.boolean(),
  confirmed_on: z.number().int().optional(),
  language: z.string().optional(),
});

const usersFileSchema = z.object({
  accounts: z
    .array(z.object({ id: z.number().int().min(1), name: z.string(), senders: z.array(senderSchema) }))
    .min(1),
  users: z
    .array(
      z.object({
        username: z.string().min(3),
        password: z.string().min(1),
        accounts: z.array(z.number().int().min(1)).min(1),
        // Cakemail documents the challenge as a 401 while its schema puts it in the 200: both exist here.
        mfa: z.object({ status: z.union([z.literal(200), z.literal(401)]), code: z.string() }).optional(),
      }),
    )
    .min(1),
});

export type UsersFile = z.input<typeof usersFileSchema>;
export type SandboxSender = z.output<typeof senderSchema>;

export interface SandboxAccount {
  readonly id: number;
  readonly name: string;
  readonly senders: readonly SandboxSender[];
  readonly senderById: ReadonlyMap<string, SandboxSender>;
}

export interface SandboxUser {
  readonly username: string;
  readonly password: string;
  readonly accounts: readonly number[];
  readonly mfa?: { readonly status: 200 | 401; readonly code: string };
}

export interface Directory {
  /** Keyed by the lower-cased username. */
  readonly users: ReadonlyMap<string, SandboxUser>;
  readonly accounts: ReadonlyMap<number, SandboxAccount>;
}

export const DEMO_USER = {
  username: 'demo@cakemail.test',
  password: 'demo-password',
  senderEmail: 'demo@cakemail.test',
} as const;

/** Built-in data when no users file is given; test/fixtures/sandbox-users.json is a superset. */
export const DEFAULT_USERS: UsersFile = {
  accounts: [
    {
      id: 1001,
      name: 'Demo account',
      senders: [
        {
          id: 'snd-1001-demo',
          name: 'Demo Sender',
          email: 'demo@cakemail.test',
          confirmed: true,
          confirmed_on: 1700000000,
        },
        {
          id: 'snd-1001-news',
          name: 'Demo Newsletter',
          email: 'news@cakemail.test',
          confirmed: true,
          confirmed_on: 1700000000,
        },
        { id: 'snd-1001-pending', name: 'Pending Sender', email: 'pending@cakemail.test', confirmed: false },
      ],
    },
    {
      id: 2002,
      name: 'Second account',
      senders: [
        {
          id: 'snd-2002-other',
          name: 'Other Sender',
          email: 'other@cakemail.test',
          confirmed: true,
          confirmed_on: 1700000000,
        },
      ],
    },
    {
      id: 3003,
      name: 'MFA account',
      senders: [{ id: 'snd-3003-mfa', name: 'MFA Sender', email: 'mfa@cakemail.test', confirmed: true }],
    },
  ],
  users: [
    { username: DEMO_USER.username, password: DEMO_USER.password, accounts: [1001] },
    { username: 'other@cakemail.test', password: 'other-password', accounts: [2002] },
    {
      username: 'mfa@cakemail.test',
      password: 'mfa-password',
      accounts: [3003],
      mfa: { status: 200, code: '123456' },
    },
  ],
};

/** Validates the data and indexes it; throws an Error naming the first problem. */
export function buildDirectory(data: unknown, source = 'users data'): Directory {
  const parsed = usersFileSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${source}: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`);
  }
  const accounts = new Map<number, SandboxAccount>();
  for (const a of parsed.data.accounts) {
    if (accounts.has(a.id)) throw new Error(`${source}: duplicate account id ${a.id}`);
    const senderById = new Map<string, SandboxSender>();
    for (const s of a.senders) {
      if (senderById.has(s.id)) throw new Error(`${source}: duplicate sender id ${s.id} in account ${a.id}`);
      senderById.set(s.id, s);
    }
    accounts.set(a.id, { id: a.id, name: a.name, senders: a.senders, senderById });
  }
  const users = new Map<string, SandboxUser>();
  for (const u of parsed.data.users) {
    const key = u.username.toLowerCase();
    if (users.has(key)) throw new Error(`${source}: duplicate username ${u.username}`);
    for (const id of u.accounts) {
      if (!accounts.has(id)) throw new Error(`${source}: user ${u.username} names unknown account ${id}`);
    }
    users.set(key, u);
  }
  return { users, accounts };
}

export async function loadDirectory(usersFile?: string): Promise<Directory> {
  if (usersFile === undefined) return buildDirectory(DEFAULT_USERS, 'built-in users');
  const text = await readFile(usersFile, 'utf8');
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(`${usersFile}: not JSON (${(err as Error).message})`, { cause: err });
  }
  return buildDirectory(data, usersFile);
}
