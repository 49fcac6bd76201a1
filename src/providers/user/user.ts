/**
 * Kind `user`: a local account under the root (docs/access.md).
 *
 * Structure (uid, primary group, supplementary groups, home, shell, comment) is changed
 * with useradd/usermod/userdel -P ROOT; the password hash, the lock and the expiry are
 * written into /etc/shadow by accounts.ts under shadow-utils' lock (a secret never goes on
 * a command line). Supplementary groups are a set: with `membership: minimum` (the
 * default) the view holds only the declared groups the user is in, so other memberships
 * are never drift and never removed (no silent loss of sudo or docker); with `exact`
 * the view holds all of them and the extra ones are removed.
 *
 * The home directory is created inside the root through ctx.fs (never a symlink out of
 * it): owner the user, mode 0700, regular files and directories of /etc/skel copied.
 */
import { createHash } from 'node:crypto';
import { TsconvergeError } from '../../core/errors.js';
import type { User } from '../../generated/kinds.js';
import type { Provider, ProviderContext, Resource, View } from '../types.js';
import { findBinary } from '../hostio.js';
import { unsuitable } from '../types.js';
import { checkAccountName, daysToExpiry, editShadow, expiryToDays, groupsOf, readAccounts, shadowTool, withAccountsLock, type Accounts } from './accounts.js';

export type UserAttrs = Omit<User, 'kind' | 'name' | 'require' | 'before' | 'notify' | 'subscribe'>;

export interface UserObserved {
  readonly uid: number;
  readonly gid: number;
  /** Primary group's name (the gid when no group has it). */
  readonly group: string;
  readonly groups: readonly string[];
  readonly home: string;
  readonly shell: string;
  readonly comment: string;
  /** sha256 of the hash without the lock mark: never the hash itself. */
  readonly passwordDigest: string | null;
  /** The hash field starts with '!' (usermod -L, or useradd's "no password yet"). */
  readonly lockedHash: boolean;
  /** Shadow's expiry field as it is (days since the epoch; '1' is how `locked: true` expires the account). */
  readonly expireDays: string;
  readonly expiry: string;
}

/** Groups whose membership gives root on the host: the plan warns when one is added. */
export const ROOT_EQUIVALENT_GROUPS: Readonly<Record<string, string>> = {
  docker: 'membership of docker is root-equivalent (the Docker socket starts containers that mount /)',
};

const digest = (hash: string): string => createHash('sha256').update(hash).digest('hex').slice(0, 16);
const sorted = (xs: readonly string[]): string[] => [...new Set(xs)].sort();

export function observeUser(accounts: Accounts, name: string): UserObserved | null {
  const p = accounts.passwd.find((e) => e.name === name);
  if (!p) return null;
  const s = accounts.shadow.get(name);
  const hash = s?.hash ?? null;
  return {
    uid: p.uid,
    gid: p.gid,
    group: accounts.groups.find((g) => g.gid === p.gid)?.name ?? String(p.gid),
    groups: groupsOf(accounts, name),
    home: p.home,
    shell: p.shell,
    comment: p.comment,
    passwordDigest: hash === null ? null : digest(hash.replace(/^!+/, '')),
    lockedHash: hash !== null && hash.startsWith('!'),
    expireDays: s?.expire ?? '',
    expiry: daysToExpiry(s?.expire ?? ''),
  };
}

function desiredView(a: UserAttrs): View {
  const v: Record<string, View[string]> = {};
  if (a.uid !== undefined) v.uid = a.uid;
  if (a.group !== undefined) v.group = a.group;
  if (a.groups !== undefined) v.groups = sorted(a.groups);
  if (a.home !== undefined) v.home = a.home;
  if (a.shell !== undefined) v.shell = a.shell;
  if (a.comment !== undefined) v.comment = a.comment;
  if (a.password !== undefined) v.password = digest(a.password);
  if (a.locked !== undefined) v.locked = a.locked;
  if (a.expiry !== undefined && a.locked !== true) v.expiry = a.expiry;
  return v;
}

function actualView(a: UserAttrs, o: UserObserved): View {
  const v: Record<string, View[string]> = {};
  if (a.uid !== undefined) v.uid = o.uid;
  if (a.group !== undefined) v.group = o.group;
  if (a.groups !== undefined) v.groups = (a.membership ?? 'minimum') === 'exact' ? sorted(o.groups) : sorted(o.groups.filter((g) => a.groups!.includes(g)));
  if (a.home !== undefined) v.home = o.home;
  if (a.shell !== undefined) v.shell = o.shell;
  if (a.comment !== undefined) v.comment = o.comment;
  if (a.password !== undefined) v.password = o.passwordDigest ?? '';
  // Locked means both the '!' and the expiry on day 1 (no key login either); a half-locked account is drift either way.
  if (a.locked !== undefined) v.locked = a.locked ? o.lockedHash && o.expireDays === '1' : o.lockedHash || o.expireDays === '1';
  if (a.expiry !== undefined && a.locked !== true) v.expiry = o.expiry;
  return v;
}

/** The home directory: created when missing, owner the user, 0700, /etc/skel copied into it. Never through a symlink. */
async function ensureHome(home: string, uid: number, gid: number, ctx: ProviderContext, resource: string): Promise<void> {
  const st = await ctx.fs.lstat(home, { resource });
  if (st?.isSymbolicLink())
    throw new TsconvergeError('FILE_IS_SYMLINK', `the home directory ${home} is a symlink; it is not followed`, {
      resource,
      terminal: true,
      hint: 'replace the symlink with a directory, or declare manageHome: false',
    });
  if (st) return;
  const parent = home.replace(/\/[^/]+\/?$/, '') || '/';
  await ctx.fs.mkdirp(parent, 0o755, { resource });
  await ctx.fs.mkdirp(home, 0o700, { resource });
  await copySkel('/etc/skel', home, uid, gid, ctx, resource);
  await ctx.fs.chown(home, uid, gid, { resource });
  await ctx.fs.chmod(home, 0o700, { resource });
}

async function copySkel(from: string, to: string, uid: number, gid: number, ctx: ProviderContext, resource: string): Promise<void> {
  const top = await ctx.fs.lstat(from, { resource });
  if (!top?.isDirectory()) return;
  for (const name of await ctx.fs.readdir(from, { resource })) {
    const src = `${from}/${name}`;
    const dst = `${to}/${name}`;
    const st = await ctx.fs.lstat(src, { resource });
    if (st?.isDirectory()) {
      await ctx.fs.mkdirp(dst, st.mode & 0o777, { resource });
      await copySkel(src, dst, uid, gid, ctx, resource);
      await ctx.fs.chown(dst, uid, gid, { resource });
    } else if (st?.isFile()) {
      const bytes = await ctx.fs.readBytes(src, { resource });
      if (bytes) await ctx.fs.writeAtomic(dst, bytes, { mode: st.mode & 0o777, uid, gid, resource, signal: ctx.signal });
    }
  }
}

export function createUserProvider(): Provider<UserAttrs, UserObserved> {
  return {
    kind: 'user',
    async suitable() {
      for (const tool of ['useradd', 'usermod', 'userdel']) {
        if (!(await findBinary(tool))) return unsuitable(`${tool} (Debian package passwd) was not found on PATH; it is needed to change /etc/passwd`);
      }
      return undefined;
    },
    async readMany(resources, ctx) {
      const accounts = await readAccounts(ctx);
      const out = new Map<string, UserObserved | null>();
      for (const r of resources) {
        const o = observeUser(accounts, r.name);
        out.set(r.id, o);
        for (const g of r.attrs.groups ?? []) {
          if (ROOT_EQUIVALENT_GROUPS[g] && r.attrs.ensure !== 'absent' && !o?.groups.includes(g))
            ctx.log.warn(`${r.id}: joins ${g}: ${ROOT_EQUIVALENT_GROUPS[g]}`);
        }
      }
      return out;
    },
    views(r, observed) {
      if (r.attrs.ensure === 'absent') return { desired: {}, actual: observed === null ? null : {} };
      return { desired: desiredView(r.attrs), actual: observed === null ? null : actualView(r.attrs, observed) };
    },
    autoRequire(r, all) {
      const groups = new Set([...(r.attrs.group ? [r.attrs.group] : []), ...(r.attrs.groups ?? [])]);
      return all.filter((x) => x.kind === 'group' && groups.has(x.name)).map((x) => x.id);
    },
    apply(r, _plan, observed, ctx) {
      return withAccountsLock(ctx, () => applyOne(r, observed, ctx));
    },
  };
}

async function applyOne(r: Resource<UserAttrs>, observed: UserObserved | null, ctx: ProviderContext): Promise<UserObserved | null> {
  const name = checkAccountName(r.name, 'user', r.id);
  const a = r.attrs;
  if (a.ensure === 'absent') {
    await shadowTool('userdel', [name], ctx, r.id);
    if (a.removeHome === true && observed) {
      // Never a top-level directory (/root, /srv, /): a home to remove is at least two levels deep.
      if (observed.home.split('/').filter((p) => p !== '').length >= 2) await ctx.fs.remove(observed.home, { recursive: true, resource: r.id });
      else
        ctx.log.warn(
          `${r.id}: the home directory ${JSON.stringify(observed.home)} is not removed: tsconverge removes only homes at least two levels deep (/home/NAME)`,
        );
    }
    return null;
  }
  const before = await readAccounts(ctx, r.id);
  if (observed === null) {
    const args: string[] = [];
    if (a.uid !== undefined) args.push('-u', String(a.uid));
    if (a.group !== undefined) args.push('-g', a.group);
    else if (before.groups.some((g) => g.name === name)) args.push('-g', name);
    else args.push('-U');
    if (a.groups !== undefined && a.groups.length > 0) args.push('-G', sorted(a.groups).join(','));
    args.push('-d', a.home ?? `/home/${name}`, '-M');
    if (a.shell !== undefined) args.push('-s', a.shell);
    if (a.comment !== undefined) args.push('-c', a.comment);
    if (a.system === true) args.push('-r');
    await shadowTool('useradd', [...args, name], ctx, r.id);
  } else {
    const args: string[] = [];
    if (a.uid !== undefined && a.uid !== observed.uid) args.push('-u', String(a.uid));
    if (a.group !== undefined && a.group !== observed.group) args.push('-g', a.group);
    if (a.home !== undefined && a.home !== observed.home) args.push('-d', a.home);
    if (a.shell !== undefined && a.shell !== observed.shell) args.push('-s', a.shell);
    if (a.comment !== undefined && a.comment !== observed.comment) args.push('-c', a.comment);
    if (a.groups !== undefined) {
      const want = sorted(a.groups);
      if ((a.membership ?? 'minimum') === 'exact') {
        if (want.join(',') !== sorted(observed.groups).join(',')) args.push('-G', want.join(','));
      } else {
        const missing = want.filter((g) => !observed.groups.includes(g));
        if (missing.length > 0) args.push('-a', '-G', missing.join(','));
      }
    }
    if (args.length > 0) await shadowTool('usermod', [...args, name], ctx, r.id);
  }
  const after = await readAccounts(ctx, r.id);
  const now = observeUser(after, name);
  if (!now) throw new TsconvergeError('NOT_CONVERGED', `user ${name} is not in /etc/passwd after useradd`, { resource: r.id });
  if (a.password !== undefined || a.locked !== undefined || a.expiry !== undefined) {
    const change: { hash?: string; locked?: boolean; expireDays?: string } = {};
    if (a.password !== undefined && digest(a.password) !== now.passwordDigest) change.hash = a.password;
    if (a.locked === true) {
      if (!now.lockedHash) change.locked = true;
      if (now.expireDays !== '1') change.expireDays = '1';
    } else {
      if (a.locked === false && now.lockedHash) change.locked = false;
      if (a.locked === false && now.expireDays === '1') change.expireDays = '';
      if (a.expiry !== undefined && expiryToDays(a.expiry) !== now.expireDays) change.expireDays = expiryToDays(a.expiry);
    }
    if (Object.keys(change).length > 0) await editShadow(ctx, name, change, r.id);
  }
  if ((a.manageHome ?? a.system !== true) && now.home !== '/nonexistent' && now.home !== '/' && now.home !== '')
    await ensureHome(now.home, now.uid, now.gid, ctx, r.id);
  return observeUser(await readAccounts(ctx, r.id), name);
}
