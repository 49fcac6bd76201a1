/**
 * The account databases under the root: /etc/passwd, /etc/group, /etc/shadow and
 * /etc/gshadow, read through ctx.fs and changed with shadow-utils run with `-P ROOT`
 * (useradd, usermod, userdel, groupadd, groupmod, groupdel: their own lock files and
 * atomic replace, so a passwd is never half-written).
 *
 * One field is written by tsconverge itself: a user's password hash, because the tools
 * take it only on their command line (`usermod -p HASH`) and a secret never goes on a
 * command line. That edit keeps shadow-utils' protocol: the lock file /etc/shadow.lock
 * created exclusively (shadow-utils takes it with link(2), so each waits for the other),
 * the file read, the one line changed, written to a temp file with the old mode and owner
 * and renamed over the old file, the lock removed.
 *
 * Used by the user, group, ssh.authorized_keys and sudo.rule providers and by
 * `import host --users`.
 */
import { TsconvergeError } from '../../core/errors.js';
import type { ProviderContext } from '../types.js';
import { requireBinary, tail, withFileLock } from '../hostio.js';

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly comment: string;
  readonly home: string;
  readonly shell: string;
}

export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

export interface ShadowEntry {
  readonly name: string;
  /** The hash field as it is ('!' prefix when locked). */
  readonly hash: string;
  /** Field 8: days since 1970-01-01, '' when it never expires. */
  readonly expire: string;
}

export interface Accounts {
  readonly passwd: readonly PasswdEntry[];
  readonly groups: readonly GroupEntry[];
  readonly shadow: ReadonlyMap<string, ShadowEntry>;
}

const lines = (text: string | null): string[] =>
  (text ?? '').split('\n').filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('+') && !l.startsWith('-'));

export function parsePasswd(text: string | null): PasswdEntry[] {
  return lines(text)
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 7)
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), comment: f[4]!, home: f[5]!, shell: f[6]! }));
}

export function parseGroup(text: string | null): GroupEntry[] {
  return lines(text)
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 4)
    .map((f) => ({ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(',').filter((m) => m !== '') }));
}

export function parseShadow(text: string | null): Map<string, ShadowEntry> {
  return new Map(
    lines(text)
      .map((l) => l.split(':'))
      .filter((f) => f.length >= 8)
      .map((f) => [f[0]!, { name: f[0]!, hash: f[1]!, expire: f[7]! }]),
  );
}

export async function readAccounts(ctx: Pick<ProviderContext, 'fs'>, resource?: string): Promise<Accounts> {
  const [passwd, group, shadow] = await Promise.all(['/etc/passwd', '/etc/group', '/etc/shadow'].map((f) => ctx.fs.readText(f, { resource })));
  return { passwd: parsePasswd(passwd ?? null), groups: parseGroup(group ?? null), shadow: parseShadow(shadow ?? null) };
}

/** Supplementary groups of a user, sorted. */
export function groupsOf(accounts: Accounts, user: string): string[] {
  return accounts.groups
    .filter((g) => g.members.includes(user))
    .map((g) => g.name)
    .sort();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * One change of the account files at a time in this process: the engine applies the
 * resources of a kind in parallel, and shadow-utils run with a prefix fails at once on a
 * lock another of them holds. Keyed by the root's real path.
 */
export async function withAccountsLock<T>(ctx: Pick<ProviderContext, 'fs'>, fn: () => Promise<T>): Promise<T> {
  return withFileLock(`accounts:${await ctx.fs.resolve('/')}`, fn);
}

const LOGIN = /^[a-z_][a-z0-9_-]{0,31}$/;

/** A user or group name shadow-utils accepts, or a clear error. */
export function checkAccountName(name: string, what: 'user' | 'group', resource: string): string {
  if (!LOGIN.test(name)) {
    throw new TsconvergeError('INVALID_VALUE', `${JSON.stringify(name)} cannot be a ${what} name`, {
      resource,
      terminal: true,
      hint: 'use lower-case letters, digits, "_" and "-", at most 32 characters, starting with a letter or "_"',
    });
  }
  return name;
}

/** YYYY-MM-DD as shadow's days since the epoch; 'never' as ''. */
export function expiryToDays(expiry: string): string {
  if (expiry === 'never') return '';
  return String(Math.floor(Date.parse(`${expiry}T00:00:00Z`) / 86_400_000));
}

export function daysToExpiry(days: string): string {
  if (days === '' || days === '-1') return 'never';
  return new Date(Number(days) * 86_400_000).toISOString().slice(0, 10);
}

/**
 * Run one shadow-utils tool with `-P ROOT` (the real path of the root). Throws
 * CONFIG_REJECTED with the tool's message when it refuses; nothing is changed then
 * (the tools write a temp file and rename it only at the end).
 */
export async function shadowTool(tool: string, args: readonly string[], ctx: Pick<ProviderContext, 'fs' | 'exec' | 'signal'>, resource: string): Promise<void> {
  const bin = await requireBinary(tool, 'to change the account databases', 'passwd', resource);
  const prefix = await ctx.fs.resolve('/', { resource });
  const argv = prefix === '/' ? [...args] : ['-P', prefix, ...args];
  // With a prefix the tools do not wait for a lock another program holds (vipw, passwd): they fail at once. Wait for it, 15 s at most.
  const deadline = Date.now() + 15_000;
  let r = await ctx.exec.run(bin, argv, { signal: ctx.signal, timeoutMs: 60_000 });
  while (r.code !== 0 && /cannot lock|try again later/i.test(r.stderr) && Date.now() < deadline && !ctx.signal.aborted) {
    await sleep(200);
    r = await ctx.exec.run(bin, argv, { signal: ctx.signal, timeoutMs: 60_000 });
  }
  if (r.code !== 0) {
    throw new TsconvergeError('CONFIG_REJECTED', `${tool} refused the change (exit ${r.code}): ${tail(r.stderr || r.stdout)}`, {
      resource,
      hint: 'the account files were left as they were; fix the declared value, or what is in the way in /etc/passwd or /etc/group',
    });
  }
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Hold shadow-utils' lock of `file` (FILE.lock, holding our pid) around `fn`. A lock
 * left by a process that is gone is removed, as shadow-utils does; a live one is waited
 * for, at most 15 s.
 */
export async function withShadowLock<T>(file: string, ctx: Pick<ProviderContext, 'fs'>, resource: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (await ctx.fs.createExclusive(lock, String(process.pid), { mode: 0o600, resource })) break;
    const holder = Number((await ctx.fs.readText(lock, { resource }).catch(() => null))?.trim());
    if (!processAlive(holder)) {
      await ctx.fs.remove(lock, { resource });
      continue;
    }
    if (Date.now() > deadline) {
      throw new TsconvergeError('RUN_IN_PROGRESS', `${lock} is held by process ${holder}`, {
        resource,
        hint: 'another program is changing the account files (vipw, useradd, passwd); try again when it is done',
      });
    }
    await sleep(100);
  }
  try {
    return await fn();
  } finally {
    await ctx.fs.remove(lock, { resource }).catch(() => undefined);
  }
}

/**
 * Set a user's hash field (password and lock) and expiry in /etc/shadow, under the lock,
 * with an atomic replace that keeps the file's mode and owner. `hash` undefined keeps the
 * password; `locked` adds or removes the leading '!'; `expireDays` undefined keeps it.
 * The field is never left empty (an empty hash lets anyone in): no hash is '*'.
 */
export async function editShadow(
  ctx: Pick<ProviderContext, 'fs' | 'signal'>,
  user: string,
  change: { hash?: string; locked?: boolean; expireDays?: string },
  resource: string,
): Promise<void> {
  if (change.hash !== undefined && /[:\n\s]/.test(change.hash)) {
    throw new TsconvergeError('INVALID_VALUE', 'the password hash has a ":", a space or a newline, so it cannot be written into /etc/shadow', {
      resource,
      terminal: true,
      hint: 'give the hash as crypt(3) writes it, e.g. from `mkpasswd -m yescrypt`',
    });
  }
  await withShadowLock('/etc/shadow', ctx, resource, async () => {
    const st = await ctx.fs.stat('/etc/shadow', { resource });
    const text = await ctx.fs.readText('/etc/shadow', { resource });
    if (text === null || st === null)
      throw new TsconvergeError('FILE_IO', '/etc/shadow does not exist under the root', {
        resource,
        hint: 'create the user with its password declared, or run pwconv',
      });
    let found = false;
    const out = text.split('\n').map((l) => {
      const f = l.split(':');
      if (f[0] !== user || f.length < 8) return l;
      found = true;
      const old = f[1]!.replace(/^!+/, '');
      // useradd writes '!' for "no password yet": a password given now is not locked by it,
      // and unlocking it gives '*' (no password), never an empty field (a login without one).
      const locked = change.locked ?? (f[1]!.startsWith('!') && (old !== '' || change.hash === undefined));
      let hash = change.hash ?? old;
      if (hash === '' && !locked) hash = '*';
      if (locked) hash = '!' + hash;
      f[1] = hash;
      if (change.expireDays !== undefined) f[7] = change.expireDays;
      return f.join(':');
    });
    if (!found)
      throw new TsconvergeError('FILE_IO', `user ${user} has no line in /etc/shadow`, {
        resource,
        hint: 'run pwck -r /etc/passwd /etc/shadow on the host to see what is wrong',
      });
    await ctx.fs.writeAtomic('/etc/shadow', out.join('\n'), { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, resource, signal: ctx.signal });
  });
}
