/**
 * file: a regular file or directory under the host root, reached only through ctx.fs
 * (no `..`, no symlink followed out of the root; a symlink at the managed path is an
 * error unless `symlink: replace`). Content is compared by hash; the plan shows a
 * unified diff of text content (the old bytes are kept for it only when the content is
 * not sensitive), size and hash for binary or sensitive content; mode as
 * octal, owner and group by name or id. Writes are atomic; an optional validate
 * command checks the new content before it replaces the old.
 */
import { createHash } from 'node:crypto';
import { TsconvergeError } from '../../core/errors.js';
import { redact } from '../../core/redact.js';
import type { Json, Provider, ProviderContext, Resource, View } from '../types.js';
import type { File as FileKind } from '../../generated/kinds.js';
import { splitWords } from '../docker/container-spec.js';

export type FileAttrs = Omit<FileKind, 'kind' | 'name' | 'require' | 'before' | 'notify' | 'subscribe'>;
type R = Resource<FileAttrs>;

export interface ObservedFile {
  readonly type: 'file' | 'directory' | 'symlink' | 'other';
  readonly hash?: string;
  readonly size: number;
  readonly mode: string;
  readonly uid: number;
  readonly gid: number;
  /** Names of uid and gid in the root's passwd and group files, when they have one. */
  readonly user?: string;
  readonly groupName?: string;
  /** The old content, kept for the plan's diff only when the content is not sensitive and at most 1 MiB. */
  readonly content?: Buffer;
}

/** Old content larger than this is not kept for a diff (the plan shows size and hash). */
const DIFF_READ_MAX = 1024 * 1024;

export const filePath = (r: Resource<FileAttrs>): string => r.attrs.path ?? r.name;
const octal = (m: number | string): string => (typeof m === 'number' ? m & 0o7777 : parseInt(m, 8)).toString(8).padStart(4, '0');
const digest = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');
const describe = (hash: string, size: number): string => `sha256:${hash.slice(0, 16)} (${size} bytes)`;

/**
 * name -> id from the root's passwd/group file, read through ctx.fs: nothing outside the
 * root is read. A root without the file knows only `root` (0).
 */
async function idMap(ctx: ProviderContext, file: 'passwd' | 'group'): Promise<Map<string, number>> {
  const text = (await ctx.fs.readText(`/etc/${file}`).catch(() => null)) ?? 'root:x:0:0';
  return new Map(
    text
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => {
        const f = l.split(':');
        return [f[0]!, Number(f[2])];
      }),
  );
}

async function resolveId(v: string | number | undefined, ctx: ProviderContext, file: 'passwd' | 'group', r: R): Promise<number | undefined> {
  if (v === undefined) return undefined;
  if (typeof v === 'number' || /^[0-9]+$/.test(v)) return Number(v);
  const id = (await idMap(ctx, file)).get(v);
  if (id === undefined) {
    throw new TsconvergeError('INVALID_VALUE', `unknown ${file === 'passwd' ? 'user' : 'group'} "${v}"`, {
      resource: r.id,
      terminal: true,
      hint: `create it first, or use a numeric id; names are looked up in /etc/${file} under the root`,
    });
  }
  return id;
}

/**
 * Run the validate command on the temp file, through ctx.exec (clean environment, no
 * shell). Its output can quote the content, so the error holds only the exit code and
 * the last lines of stderr, masked of every known secret (and of everything when the
 * file is sensitive).
 */
async function runValidate(cmd: string, tempPath: string, r: R, ctx: ProviderContext): Promise<void> {
  const argv = splitWords(cmd).map((w) => w.replace(/%s/g, tempPath));
  const res = await ctx.exec.run(argv[0]!, argv.slice(1), { signal: ctx.signal, timeoutMs: 60_000 });
  if (res.code === 0) return;
  const lines = sensitiveContent(r)
    ? '(output hidden: the content is sensitive)'
    : res.stderr.trim().split('\n').slice(-3).join(' | ').split(tempPath).join('the new file');
  throw new TsconvergeError('FILE_VALIDATE_FAILED', `validate command refused the new content: ${argv[0]} exited ${res.code}: ${lines}`, {
    resource: r.id,
    terminal: true,
    hint: 'the old file was left byte-identical; fix the content or template',
  });
}

/** Content from a secret (`/content` tainted by the compiler), `sensitive: true`, or holding a known secret value. */
function sensitiveContent(r: R): boolean {
  if (r.sensitive.includes('content') || r.sensitive.includes('/content')) return true;
  return r.attrs.content !== undefined && redact(r.attrs.content) !== r.attrs.content;
}

function symlinkAt(p: string, r: R): TsconvergeError {
  return new TsconvergeError('FILE_IS_SYMLINK', `${p} is a symlink; tsconverge does not write through or replace a symlink at a managed path unless told to`, {
    resource: r.id,
    terminal: true,
    hint: 'remove the link by hand, point `path` at the real file, or declare `symlink: replace` to replace the link itself by the declared file',
  });
}

/** Files read at once by readMany. */
const READ_CONCURRENCY = 64;

export function createFileProvider(): Provider<FileAttrs, ObservedFile> {
  const want = (r: R): 'present' | 'absent' | 'directory' => r.attrs.ensure ?? 'present';

  async function readOne(r: R, ctx: ProviderContext): Promise<ObservedFile | null> {
    const p = filePath(r);
    const st = await ctx.fs.lstat(p, { resource: r.id });
    if (!st) return null;
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : 'other';
    const base = { type, size: st.size, mode: octal(st.mode), uid: st.uid, gid: st.gid } as const;
    if (type === 'file' && r.attrs.content !== undefined) {
      const bytes = (await ctx.fs.readBytes(p, { resource: r.id })) ?? Buffer.alloc(0);
      return { ...base, hash: digest(bytes), ...(!sensitiveContent(r) && bytes.length <= DIFF_READ_MAX ? { content: bytes } : {}) };
    }
    return base;
  }

  return {
    kind: 'file',
    suitable: async () => undefined,
    watch: (r) => [{ path: filePath(r) }],
    async readMany(resources, ctx) {
      const [users, groups] = await Promise.all([idMap(ctx, 'passwd'), idMap(ctx, 'group')]);
      // id -> the first name with it (as a search of the file in order finds it), built once, not per file.
      const byId = (m: Map<string, number>): Map<number, string> => {
        const out = new Map<number, string>();
        for (const [n, id] of m) if (!out.has(id)) out.set(id, n);
        return out;
      };
      const [userOf, groupOf] = [byId(users), byId(groups)];
      // At most READ_CONCURRENCY reads in flight: a catalogue of 100,000 files does not hold
      // 100,000 pending reads (and their buffers) at once; results keep the catalogue's order.
      const results: (ObservedFile | null)[] = new Array(resources.length);
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(READ_CONCURRENCY, resources.length) }, async () => {
          while (next < resources.length) {
            const i = next++;
            const o = await readOne(resources[i]!, ctx);
            results[i] = o && { ...o, user: userOf.get(o.uid), groupName: groupOf.get(o.gid) };
          }
        }),
      );
      return new Map(resources.map((r, i) => [r.id, results[i]!] as const));
    },
    views(r, o): { desired: View; actual: View | null } {
      const d: Record<string, Json> = { ensure: want(r) };
      const a: Record<string, Json> = { ensure: o ? (o.type === 'file' ? 'present' : o.type) : 'absent' };
      if (r.attrs.content !== undefined && want(r) === 'present') {
        d.content = describe(digest(r.attrs.content), Buffer.byteLength(r.attrs.content));
        if (o?.hash) a.content = describe(o.hash, o.size);
      }
      if (r.attrs.mode !== undefined) {
        d.mode = octal(r.attrs.mode);
        if (o) a.mode = o.mode;
      }
      // Owner and group compare as declared: a name with the name, an id with the id.
      const numeric = (v: string | number): boolean => typeof v === 'number' || /^[0-9]+$/.test(v);
      if (r.attrs.owner !== undefined) {
        d.owner = String(r.attrs.owner);
        if (o) a.owner = numeric(r.attrs.owner) ? String(o.uid) : (o.user ?? String(o.uid));
      }
      if (r.attrs.group !== undefined) {
        d.group = String(r.attrs.group);
        if (o) a.group = numeric(r.attrs.group) ? String(o.gid) : (o.groupName ?? String(o.gid));
      }
      return { desired: d, actual: o ? a : null };
    },
    texts(r, o): Record<string, { from?: string | Buffer; to?: string | Buffer }> {
      if (r.attrs.content === undefined || sensitiveContent(r)) return { content: {} };
      if (o?.hash && !o.content) return {}; // too large to diff: size and hash only
      return { content: { from: o?.content ?? '', to: r.attrs.content } };
    },
    async apply(r, plan, observed, ctx) {
      const p = filePath(r);
      const fs = ctx.fs;
      const opt = { resource: r.id };
      // Confinement first: a path that leaves the root fails before anything is looked up.
      await fs.resolve(p, opt);
      const uid = await resolveId(r.attrs.owner, ctx, 'passwd', r);
      const gid = await resolveId(r.attrs.group, ctx, 'group', r);
      const sensitive = sensitiveContent(r);
      const mode = r.attrs.mode !== undefined ? parseInt(r.attrs.mode, 8) : undefined;
      // What is there now, looked at again: the plan may be older than the world.
      const now = await fs.lstat(p, opt);
      if (now?.isSymbolicLink() && (r.attrs.symlink ?? 'refuse') === 'refuse') throw symlinkAt(p, r);
      if (plan.action === 'delete') {
        if (now?.isDirectory() && r.attrs.force !== true) {
          const entries = await fs.readdir(p, opt);
          if (entries.length > 0) {
            throw new TsconvergeError(
              'FILE_IO',
              `${p} is a directory with ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}; it is deleted recursively only with force: true`,
              {
                resource: r.id,
                terminal: true,
                hint: 'add `force: true` to the resource to delete the directory and everything in it, or empty it first',
              },
            );
          }
        }
        await fs.remove(p, { ...opt, recursive: r.attrs.force === true });
        return null;
      }
      const current = now?.isFile() ? 'file' : now?.isDirectory() ? 'directory' : now ? 'other' : null;
      if (current !== null && current !== (want(r) === 'directory' ? 'directory' : 'file')) {
        if (current === 'directory') {
          throw new TsconvergeError('FILE_IO', `${p} is a directory, the manifest wants a file`, {
            resource: r.id,
            terminal: true,
            hint: 'remove the directory by hand; tsconverge does not delete directories it did not declare absent',
          });
        }
        await fs.remove(p, opt); // a file or a link (symlink: replace) where a directory is wanted, or a link where a file is wanted
      }
      const exists = current !== null && current !== 'other' && !now?.isSymbolicLink();
      if (want(r) === 'directory') {
        await fs.mkdirp(p, mode ?? 0o755, opt);
      } else if (
        r.attrs.content !== undefined &&
        (!exists || plan.action === 'create' || plan.changes.some((c) => c.attribute === 'content' || c.attribute === 'ensure'))
      ) {
        await fs.writeAtomic(p, r.attrs.content, {
          ...opt,
          signal: ctx.signal,
          // Undeclared mode: an existing file keeps its own, minus group/other bits when the content is sensitive.
          mode: mode ?? (exists && observed ? parseInt(observed.mode, 8) & (sensitive ? 0o7700 : 0o7777) : sensitive ? 0o600 : 0o644),
          uid: uid ?? (exists ? observed?.uid : undefined),
          gid: gid ?? (exists ? observed?.gid : undefined),
          validate: r.attrs.validate ? (tmp) => runValidate(r.attrs.validate!, tmp, r, ctx) : undefined,
        });
        return null;
      } else if (!exists) {
        await fs.writeAtomic(p, '', { ...opt, signal: ctx.signal, mode: mode ?? (sensitive ? 0o600 : 0o644), uid, gid });
        return null;
      }
      if (mode !== undefined) await fs.chmod(p, mode, opt);
      if (uid !== undefined || gid !== undefined) await fs.chown(p, uid ?? -1, gid ?? -1, opt);
      return null;
    },
  };
}

export type { ProviderContext };
