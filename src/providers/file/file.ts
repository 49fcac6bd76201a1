/**
 * file: a regular file or directory under the host root. Content is compared by hash;
 * the plan shows a unified diff of text content (the old bytes are kept for it only
 * when the content is not sensitive), size and hash for binary or sensitive content; mode as
 * octal, owner and group by name or id. Writes are atomic; an optional validate
 * command checks the new content before it replaces the old.
 */
import { lstat, readFile, mkdir, rm, chmod, chown } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { TsconvergeError } from '../../engine/errors.js';
import type { Json, Provider, ProviderContext, Resource, View } from '../types.js';
import type { File as FileKind } from '../../generated/kinds.js';
import { writeFileAtomic } from './atomic.js';
import { splitWords } from '../docker/container-spec.js';

export type FileAttrs = Omit<FileKind, 'kind' | 'name' | 'require' | 'before' | 'notify' | 'subscribe'>;
type R = Resource<FileAttrs>;

export interface ObservedFile {
  readonly type: 'file' | 'directory' | 'other';
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
const contentSensitive = (r: R): boolean => r.sensitive.includes('content') || r.sensitive.includes('/content');

export const filePath = (r: Resource<FileAttrs>): string => r.attrs.path ?? r.name;
const hostPath = (r: R, root: string): string => path.join(root, filePath(r));
const octal = (m: number | string): string => (typeof m === 'number' ? m & 0o7777 : parseInt(m, 8)).toString(8).padStart(4, '0');
const digest = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');
const describe = (hash: string, size: number): string => `sha256:${hash.slice(0, 16)} (${size} bytes)`;

/** name -> id from the root's passwd/group file (falls back to the machine's). */
async function idMap(root: string, file: 'passwd' | 'group'): Promise<Map<string, number>> {
  let text = '';
  for (const p of [path.join(root, 'etc', file), path.join('/etc', file)]) {
    try { text = await readFile(p, 'utf8'); break; } catch { /* try next */ }
  }
  return new Map(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => { const f = l.split(':'); return [f[0]!, Number(f[2])]; }));
}

async function resolveId(v: string | number | undefined, root: string, file: 'passwd' | 'group', r: R): Promise<number | undefined> {
  if (v === undefined) return undefined;
  if (typeof v === 'number' || /^[0-9]+$/.test(v)) return Number(v);
  const id = (await idMap(root, file)).get(v);
  if (id === undefined) {
    throw new TsconvergeError('INVALID_VALUE', `unknown ${file === 'passwd' ? 'user' : 'group'} "${v}"`, {
      resource: r.id, terminal: true, hint: `create it first, or use a numeric id; names are looked up in ${path.join(root, 'etc', file)}`,
    });
  }
  return id;
}

function runValidate(cmd: string, tempPath: string, r: R, signal: AbortSignal): Promise<void> {
  const argv = splitWords(cmd).map((w) => w.replace(/%s/g, tempPath));
  return new Promise((resolve, reject) => {
    execFile(argv[0]!, argv.slice(1), { signal, timeout: 60_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      reject(new TsconvergeError('FILE_VALIDATE_FAILED', `validate command refused the new content: ${argv[0]} exited ${(err as { code?: number }).code ?? ''}: ${String(stderr).trim().split('\n').slice(-3).join(' | ')}`, {
        resource: r.id, terminal: true, hint: 'the old file was left byte-identical; fix the content or template', cause: err,
      }));
    });
  });
}

export function createFileProvider(): Provider<FileAttrs, ObservedFile> {
  const want = (r: R): 'present' | 'absent' | 'directory' => r.attrs.ensure ?? 'present';

  async function readOne(r: R, root: string): Promise<ObservedFile | null> {
    const p = hostPath(r, root);
    try {
      const st = await lstat(p);
      const type = st.isFile() ? 'file' : st.isDirectory() ? 'directory' : 'other';
      const base = { type, size: st.size, mode: octal(st.mode), uid: st.uid, gid: st.gid } as const;
      if (type === 'file' && r.attrs.content !== undefined) {
        const bytes = await readFile(p);
        return { ...base, hash: digest(bytes), ...(!contentSensitive(r) && bytes.length <= DIFF_READ_MAX ? { content: bytes } : {}) };
      }
      return base;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new TsconvergeError('FILE_IO', `cannot read ${p}: ${(err as Error).message}`, { resource: r.id, cause: err });
    }
  }

  return {
    kind: 'file',
    suitable: async () => undefined,
    async readMany(resources, ctx) {
      const [users, groups] = await Promise.all([idMap(ctx.root, 'passwd'), idMap(ctx.root, 'group')]);
      const nameOf = (m: Map<string, number>, id: number): string | undefined => [...m].find(([, v]) => v === id)?.[0];
      const pairs = await Promise.all(resources.map(async (r) => {
        const o = await readOne(r, ctx.root);
        return [r.id, o && { ...o, user: nameOf(users, o.uid), groupName: nameOf(groups, o.gid) }] as const;
      }));
      return new Map(pairs);
    },
    views(r, o): { desired: View; actual: View | null } {
      const d: Record<string, Json> = { ensure: want(r) };
      const a: Record<string, Json> = { ensure: o ? (o.type === 'file' ? 'present' : o.type) : 'absent' };
      if (r.attrs.content !== undefined && want(r) === 'present') {
        d.content = describe(digest(r.attrs.content), Buffer.byteLength(r.attrs.content));
        if (o?.hash) a.content = describe(o.hash, o.size);
      }
      if (r.attrs.mode !== undefined) { d.mode = octal(r.attrs.mode); if (o) a.mode = o.mode; }
      // Owner and group compare as declared: a name with the name, an id with the id.
      const numeric = (v: string | number): boolean => typeof v === 'number' || /^[0-9]+$/.test(v);
      if (r.attrs.owner !== undefined) { d.owner = String(r.attrs.owner); if (o) a.owner = numeric(r.attrs.owner) ? String(o.uid) : o.user ?? String(o.uid); }
      if (r.attrs.group !== undefined) { d.group = String(r.attrs.group); if (o) a.group = numeric(r.attrs.group) ? String(o.gid) : o.groupName ?? String(o.gid); }
      return { desired: d, actual: o ? a : null };
    },
    texts(r, o): Record<string, { from?: string | Buffer; to?: string | Buffer }> {
      if (r.attrs.content === undefined || contentSensitive(r)) return { content: {} };
      if (o?.hash && !o.content) return {}; // too large to diff: size and hash only
      return { content: { from: o?.content ?? '', to: r.attrs.content } };
    },
    async apply(r, plan, observed, ctx) {
      const p = hostPath(r, ctx.root);
      const uid = await resolveId(r.attrs.owner, ctx.root, 'passwd', r);
      const gid = await resolveId(r.attrs.group, ctx.root, 'group', r);
      const mode = r.attrs.mode !== undefined ? parseInt(r.attrs.mode, 8) : undefined;
      try {
        if (plan.action === 'delete') {
          await rm(p, { recursive: observed?.type === 'directory', force: true });
          return null;
        }
        if (observed && observed.type !== (want(r) === 'directory' ? 'directory' : 'file')) {
          if (observed.type === 'directory') {
            throw new TsconvergeError('FILE_IO', `${p} is a directory, the manifest wants a file`, { resource: r.id, terminal: true, hint: 'remove the directory by hand; tsconverge does not delete directories it did not declare absent' });
          }
          await rm(p, { force: true });
        }
        if (want(r) === 'directory') {
          await mkdir(p, { recursive: true, mode: mode ?? 0o755 });
        } else if (r.attrs.content !== undefined && (plan.action === 'create' || plan.changes.some((c) => c.attribute === 'content' || c.attribute === 'ensure'))) {
          await writeFileAtomic(p, r.attrs.content, {
            mode: mode ?? (observed ? parseInt(observed.mode, 8) : 0o644),
            uid: uid ?? observed?.uid, gid: gid ?? observed?.gid,
            validate: r.attrs.validate ? (tmp) => runValidate(r.attrs.validate!, tmp, r, ctx.signal) : undefined,
          });
          return null;
        } else if (!observed) {
          await writeFileAtomic(p, '', { mode: mode ?? 0o644, uid, gid });
          return null;
        }
        if (mode !== undefined) await chmod(p, mode);
        if (uid !== undefined || gid !== undefined) await chown(p, uid ?? -1, gid ?? -1);
      } catch (err) {
        if (err instanceof TsconvergeError) throw err;
        throw new TsconvergeError('FILE_IO', `cannot write ${p}: ${(err as Error).message}`, { resource: r.id, cause: err, hint: 'check the path, its parent directory and permissions' });
      }
      return null;
    },
  };
}

export type { ProviderContext };
