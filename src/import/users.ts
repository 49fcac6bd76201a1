/**
 * `tsconverge import host --users`: the accounts under --root as user, group and
 * ssh.authorized_keys resources, so that a plan against them shows no changes.
 *
 * Users with a uid from `minUid` (default 1000) up to 65533 (nobody, 65534, is left out),
 * with their primary group, supplementary groups, home, shell and comment; `locked: true`
 * only for an account that is locked and expired (what the user kind calls locked), the
 * expiry when one is set. Groups with a gid in the same range, by gid (their members are
 * carried by the users, so one place declares each membership). Each imported user's
 * authorized_keys as one resource holding the whole set. Password hashes are never
 * imported: a manifest is no place for them (declare them as secrets).
 */
import { createRootFs } from '../core/rootfs.js';
import { readAccounts } from '../providers/user/accounts.js';
import { observeUser } from '../providers/user/user.js';
import { parseKeyLine, type KeyLine } from '../providers/ssh/authorized_keys.js';

type Obj = Record<string, unknown>;

export interface UsersImportOptions {
  readonly root: string;
  readonly minUid?: number;
}

const NOBODY = 65534;
const SCHEMA_TYPES =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)$/;

/** Options of an authorized_keys line, split at commas outside double quotes. */
function splitOptions(options: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const c of options) {
    if (c === '"') quoted = !quoted;
    if (c === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (cur !== '') out.push(cur);
  return out;
}

function keyEntry(k: KeyLine): string | Obj {
  const key = [k.type, k.blob, k.comment].filter((s) => s !== '').join(' ');
  return k.options === '' ? key : { key, options: splitOptions(k.options) };
}

export async function importUsers(opts: UsersImportOptions, warn: (m: string) => void): Promise<Obj[]> {
  const fs = createRootFs(opts.root);
  const min = opts.minUid ?? 1000;
  const inRange = (id: number): boolean => id >= min && id < NOBODY;
  const accounts = await readAccounts({ fs });
  const users = accounts.passwd.filter((p) => inRange(p.uid)).sort((a, b) => a.uid - b.uid || a.name.localeCompare(b.name));
  const groups = accounts.groups.filter((g) => inRange(g.gid)).sort((a, b) => a.gid - b.gid || a.name.localeCompare(b.name));
  const out: Obj[] = groups.map((g) => ({ kind: 'group', name: g.name, gid: g.gid }));
  let hashes = 0;
  for (const p of users) {
    const o = observeUser(accounts, p.name)!;
    const u: Obj = { kind: 'user', name: p.name, uid: p.uid, group: o.group, groups: [...o.groups], home: p.home, shell: p.shell };
    if (!/^\d+$/.test(o.group)) u.group = o.group;
    else {
      delete u.group;
      warn(`user ${p.name}: its primary gid ${p.gid} has no group; group left out`);
    }
    if (p.comment !== '') u.comment = p.comment;
    if (o.lockedHash && o.expireDays === '1') u.locked = true;
    else if (o.expiry !== 'never') u.expiry = o.expiry;
    u.manageHome = false;
    const hash = accounts.shadow.get(p.name)?.hash.replace(/^!+/, '') ?? '';
    if (hash !== '' && hash !== '*') hashes++;
    out.push(u);
    const home = p.home.replace(/\/+$/, '');
    const text = home === '' ? null : await fs.readText(`${home}/.ssh/authorized_keys`).catch(() => null);
    if (text === null) continue;
    const keys = text
      .split('\n')
      .map(parseKeyLine)
      .filter((k): k is KeyLine => k !== null);
    const usable = keys.filter((k) => SCHEMA_TYPES.test(k.type));
    if (usable.length < keys.length)
      warn(`user ${p.name}: ${keys.length - usable.length} key(s) of an old type (ssh-dss) left out; the next apply would remove them`);
    if (usable.length > 0) out.push({ kind: 'ssh.authorized_keys', name: p.name, keys: usable.map(keyEntry) });
  }
  if (hashes > 0) warn(`${hashes} password hash(es) not imported: declare password as a secret (!secret NAME) where tsconverge should manage it`);
  return out;
}
