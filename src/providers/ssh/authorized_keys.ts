/**
 * Kind `ssh.authorized_keys`: the whole set of keys that may log in as one user, in
 * ~/.ssh/authorized_keys under the root (docs/access.md).
 *
 * One resource per user, so the set is decided in one place (no per-key resources that
 * each keep "only this one", no purge that removes and re-adds every run). Keys compare
 * as a set of (options, type, SHA256 fingerprint, comment): the order of the lines never
 * causes a rewrite, a key added by hand shows as drift (exclusive, the default) and is
 * removed, a key removed from the catalogue is revoked at the next run. The views hold the
 * fingerprint, never the key material, so plans and reports show only that.
 *
 * The file is written through ctx.fs: atomically, owner the user, mode 0600, in a .ssh
 * directory owned by the user with mode 0700. A home, .ssh or authorized_keys that is a
 * symlink is refused, so a user cannot point root's write at another file.
 */
import { createHash } from 'node:crypto';
import { TsconvergeError } from '../../core/errors.js';
import type { SshAuthorizedKeys } from '../../generated/kinds.js';
import type { Provider, ProviderContext, Resource, View } from '../types.js';
import { readAccounts } from '../user/accounts.js';

export type AuthorizedKeysAttrs = Omit<SshAuthorizedKeys, 'kind' | 'name' | 'require' | 'before' | 'notify' | 'subscribe'>;

export interface KeyLine {
  readonly options: string;
  readonly type: string;
  readonly blob: string;
  readonly comment: string;
}

export interface AuthorizedKeysObserved {
  readonly user: string;
  readonly path: string;
  /** Keys in the file (comments and blank lines left out); null when the file does not exist. */
  readonly keys: readonly KeyLine[] | null;
  /** authorized_keys, .ssh and the home as sshd's StrictModes wants them (strictModes). */
  readonly strict: boolean;
}

const KEY_TYPE =
  /^(ssh-ed25519|ssh-rsa|ssh-dss|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)$/;

/** One authorized_keys line: [options] type base64 [comment]; null for blank, comment or unreadable lines. */
export function parseKeyLine(raw: string): KeyLine | null {
  const line = raw.trim();
  if (line === '' || line.startsWith('#')) return null;
  let options = '';
  let rest = line;
  const first = line.split(/\s+/, 1)[0]!;
  if (!KEY_TYPE.test(first)) {
    // Options run to the first space outside double quotes.
    let i = 0;
    let quoted = false;
    for (; i < line.length; i++) {
      const c = line[i]!;
      if (c === '\\' && quoted) {
        i++;
        continue;
      }
      if (c === '"') quoted = !quoted;
      else if (/\s/.test(c) && !quoted) break;
    }
    options = line.slice(0, i);
    rest = line.slice(i).trim();
  }
  const [type, blob, ...comment] = rest.split(/\s+/);
  if (!type || !blob || !KEY_TYPE.test(type)) return null;
  return { options, type, blob, comment: comment.join(' ') };
}

export function fingerprint(blob: string): string {
  return 'SHA256:' + createHash('sha256').update(Buffer.from(blob, 'base64')).digest('base64').replace(/=+$/, '');
}

/** How a key shows in views, plans and reports: options, type, fingerprint, comment; never the key. */
export function keyId(k: KeyLine): string {
  return [k.options, k.type, fingerprint(k.blob), k.comment].filter((s) => s !== '').join(' ');
}

export function renderKeyLine(k: KeyLine): string {
  return [k.options, k.type, k.blob, k.comment].filter((s) => s !== '').join(' ');
}

export function declaredKeys(r: Resource<AuthorizedKeysAttrs>): KeyLine[] {
  return r.attrs.keys.map((k, i) => {
    const key = typeof k === 'string' ? k : k.key;
    const options = typeof k === 'string' ? '' : (k.options ?? []).join(',');
    const parsed = parseKeyLine(key);
    if (!parsed || parsed.options !== '' || Buffer.from(parsed.blob, 'base64').length < 16) {
      throw new TsconvergeError('INVALID_VALUE', `keys[${i}] is not a public key line (type, base64, optional comment)`, {
        resource: r.id,
        terminal: true,
        hint: 'paste the line of the .pub file, e.g. ssh-ed25519 AAAAC3Nza... alice@laptop; put options in {key, options}',
      });
    }
    return { ...parsed, options };
  });
}

const userOf = (r: Resource<AuthorizedKeysAttrs>): string => r.attrs.user ?? r.name;
const sorted = (xs: readonly string[]): string[] => [...new Set(xs)].sort();

async function refuseSymlink(p: string, ctx: ProviderContext, resource: string): Promise<'dir' | 'file' | null> {
  const st = await ctx.fs.lstat(p, { resource });
  if (!st) return null;
  if (st.isSymbolicLink()) {
    throw new TsconvergeError('FILE_IS_SYMLINK', `${p} is a symlink; tsconverge does not write keys through it`, {
      resource,
      terminal: true,
      hint: `replace ${p} with a real ${p.endsWith('.ssh') ? 'directory' : 'file'} owned by the user`,
    });
  }
  return st.isDirectory() ? 'dir' : 'file';
}

/**
 * What sshd's StrictModes wants before it accepts a key: authorized_keys, .ssh and the home
 * each owned by the user or root, none writable by group or others, none a symlink.
 */
async function strictModes(file: string, uid: number, ctx: ProviderContext): Promise<boolean> {
  const dir = file.slice(0, file.lastIndexOf('/'));
  const home = dir.slice(0, dir.lastIndexOf('/')) || '/';
  const sts = await Promise.all([file, dir, home].map((p) => ctx.fs.lstat(p).catch(() => null)));
  const ok = (st: (typeof sts)[number], dirExpected: boolean): boolean =>
    !!st && (dirExpected ? st.isDirectory() : st.isFile()) && (st.uid === uid || st.uid === 0) && (st.mode & 0o022) === 0;
  return ok(sts[0]!, false) && ok(sts[1]!, true) && ok(sts[2]!, true);
}

export function createAuthorizedKeysProvider(): Provider<AuthorizedKeysAttrs, AuthorizedKeysObserved> {
  return {
    kind: 'ssh.authorized_keys',
    async suitable() {
      return undefined;
    },
    async readMany(resources, ctx) {
      const accounts = await readAccounts(ctx);
      const out = new Map<string, AuthorizedKeysObserved | null>();
      for (const r of resources) {
        const pw = accounts.passwd.find((p) => p.name === userOf(r));
        if (!pw) {
          out.set(r.id, null);
          continue;
        }
        const file = `${pw.home.replace(/\/+$/, '')}/.ssh/authorized_keys`;
        const text = await ctx.fs.readText(file, { resource: r.id }).catch(() => null);
        out.set(
          r.id,
          text === null
            ? null
            : {
                user: pw.name,
                path: file,
                keys: text
                  .split('\n')
                  .map(parseKeyLine)
                  .filter((k): k is KeyLine => k !== null),
                strict: await strictModes(file, pw.uid, ctx),
              },
        );
      }
      return out;
    },
    views(r, o): { desired: View; actual: View | null } {
      if (r.attrs.ensure === 'absent') return { desired: {}, actual: o === null ? null : {} };
      const want = sorted(declaredKeys(r).map(keyId));
      const strict = r.attrs.strictModes !== false;
      const desired: View = strict ? { keys: want, strictModes: true } : { keys: want };
      if (o === null || o.keys === null) return { desired, actual: null };
      const have = sorted(o.keys.map(keyId));
      const keys = r.attrs.exclusive === false ? have.filter((k) => want.includes(k)) : have;
      return { desired, actual: strict ? { keys, strictModes: o.strict } : { keys } };
    },
    autoRequire(r, all) {
      return all.filter((x) => x.kind === 'user' && x.name === userOf(r)).map((x) => x.id);
    },
    async apply(r, _plan, observed, ctx) {
      const accounts = await readAccounts(ctx, r.id);
      const pw = accounts.passwd.find((p) => p.name === userOf(r));
      if (r.attrs.ensure === 'absent') {
        if (observed) await ctx.fs.remove(observed.path, { resource: r.id });
        return null;
      }
      if (!pw)
        throw new TsconvergeError('NOT_CONVERGED', `user ${userOf(r)} does not exist under the root`, {
          resource: r.id,
          hint: `declare a user resource named ${userOf(r)} (it is applied first), or create the user`,
        });
      const home = pw.home.replace(/\/+$/, '');
      const homeKind = await refuseSymlink(home, ctx, r.id);
      if (homeKind !== 'dir')
        throw new TsconvergeError('FILE_IO', `the home directory ${home} of ${pw.name} does not exist`, {
          resource: r.id,
          hint: 'let the user resource create it (manageHome, the default), or create it',
        });
      // sshd refuses keys under a home others can write to.
      const homeSt = await ctx.fs.lstat(home, { resource: r.id });
      if (homeSt && (homeSt.mode & 0o022) !== 0) await ctx.fs.chmod(home, homeSt.mode & 0o7755, { resource: r.id });
      const sshDir = `${home}/.ssh`;
      const file = `${sshDir}/authorized_keys`;
      const dirKind = await refuseSymlink(sshDir, ctx, r.id);
      if (dirKind === 'file')
        throw new TsconvergeError('FILE_IO', `${sshDir} exists and is not a directory`, { resource: r.id, terminal: true, hint: 'remove or move it' });
      if (dirKind === null) await ctx.fs.mkdirp(sshDir, 0o700, { resource: r.id });
      await ctx.fs.chmod(sshDir, 0o700, { resource: r.id });
      await ctx.fs.chown(sshDir, pw.uid, pw.gid, { resource: r.id });
      await refuseSymlink(file, ctx, r.id);
      const want = declaredKeys(r);
      let lines = want.map(renderKeyLine);
      if (r.attrs.exclusive === false) {
        const old = (await ctx.fs.readText(file, { resource: r.id })) ?? '';
        const ids = new Set(
          old
            .split('\n')
            .map(parseKeyLine)
            .filter((k): k is KeyLine => k !== null)
            .map(keyId),
        );
        lines = [...old.split('\n').filter((l) => l.trim() !== ''), ...want.filter((k) => !ids.has(keyId(k))).map(renderKeyLine)];
      }
      await ctx.fs.writeAtomic(file, lines.join('\n') + '\n', { mode: 0o600, uid: pw.uid, gid: pw.gid, resource: r.id, signal: ctx.signal });
      const text = await ctx.fs.readText(file, { resource: r.id });
      return {
        user: pw.name,
        path: file,
        keys: (text ?? '')
          .split('\n')
          .map(parseKeyLine)
          .filter((k): k is KeyLine => k !== null),
        strict: await strictModes(file, pw.uid, ctx),
      };
    },
  };
}
