/**
 * Building docker.image from a context on the host (issue 28): the context is read through
 * the confined file system (ctx.fs: under --root, no symlink out of it), `.dockerignore`
 * honoured; its content hash names the build, so an unchanged context never builds again
 * and a changed one says which files changed. The build goes through the engine's build
 * API (dockerode buildImage) with a tar of exactly the files that were hashed.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type Docker from 'dockerode';
import { Readable } from 'node:stream';
import { TsconvergeError } from '../../core/errors.js';
import type { RootFs } from '../../core/rootfs.js';

export interface BuildSpec {
  readonly context: string;
  readonly dockerfile?: string;
  readonly target?: string;
  readonly args?: Readonly<Record<string, string | number | boolean>>;
  readonly network?: string;
}

/** The label that records what an image was built from: the hash, the files, the parameters. */
export const BUILD_LABEL = 'io.tsconverge.build';
/** Above this many files a plan says the context changed, not which file. */
export const MAX_LISTED_FILES = 1000;

export interface ContextFile {
  readonly rel: string;
  readonly mode: number;
  readonly data: Buffer;
  readonly sha: string;
}

export interface BuildRecord {
  /** sha256 of everything that goes into the build: files, modes, dockerfile, target, args. */
  readonly hash: string;
  /** Each file's short content hash (mode included), by path in the context; absent for a very large context. */
  readonly files?: Readonly<Record<string, string>>;
  readonly dockerfile: string;
  readonly target?: string;
  readonly args: Readonly<Record<string, string>>;
}

/** `.dockerignore` patterns as a matcher: globs with * ? and **, `!` exceptions, the last match wins. */
export function dockerignore(text: string): (rel: string) => boolean {
  const rules = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pat = path.posix.normalize((negate ? l.slice(1) : l).trim()).replace(/^\/+|\/+$/g, '');
      let re = '';
      for (let i = 0; i < pat.length; i++) {
        const c = pat[i]!;
        if (c === '*' && pat[i + 1] === '*') {
          re += '.*';
          i++;
          if (pat[i + 1] === '/') i++;
        } else if (c === '*') re += '[^/]*';
        else if (c === '?') re += '[^/]';
        else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { negate, re: new RegExp(`^${re}(/.*)?$`) };
    });
  return (rel) => {
    let ignored = false;
    for (const r of rules) if (r.re.test(rel)) ignored = !r.negate;
    return ignored;
  };
}

/** Every file of the context (sorted), read through the root; the Dockerfile and .dockerignore are always sent. */
export async function readContext(fs: RootFs, spec: BuildSpec, resource: string): Promise<ContextFile[]> {
  const root = spec.context.replace(/\/+$/, '') || '/';
  const st = await fs.stat(root, { resource });
  if (!st?.isDirectory())
    throw new TsconvergeError('FILE_IO', `build context ${root} is not a directory`, {
      resource,
      terminal: true,
      hint: 'give build.context as the path of a directory under --root',
    });
  const ignoreText = await fs.readText(path.posix.join(root, '.dockerignore'), { resource });
  const ignored = ignoreText === null ? (): boolean => false : dockerignore(ignoreText);
  const dockerfile = spec.dockerfile ?? 'Dockerfile';
  const out: ContextFile[] = [];
  const walk = async (dir: string, relDir: string): Promise<void> => {
    for (const name of (await fs.readdir(dir, { resource })).sort()) {
      const rel = relDir ? `${relDir}/${name}` : name;
      const abs = path.posix.join(dir, name);
      const keep = rel === dockerfile || rel === '.dockerignore';
      if (!keep && ignored(rel)) continue;
      const ls = await fs.lstat(abs, { resource });
      if (!ls) continue;
      if (ls.isSymbolicLink())
        throw new TsconvergeError('FILE_IS_SYMLINK', `build context: ${rel} is a symbolic link; tsconverge sends only regular files`, {
          resource,
          terminal: true,
          hint: 'replace the link by the file, or list it in .dockerignore',
        });
      if (ls.isDirectory()) {
        await walk(abs, rel);
        continue;
      }
      if (!ls.isFile()) continue;
      const data = (await fs.readBytes(abs, { resource })) ?? Buffer.alloc(0);
      const mode = ls.mode & 0o7777;
      out.push({
        rel,
        mode,
        data,
        sha: createHash('sha256')
          .update(`${mode.toString(8)}\0`)
          .update(data)
          .digest('hex')
          .slice(0, 12),
      });
    }
  };
  await walk(root, '');
  if (!out.some((f) => f.rel === dockerfile)) {
    throw new TsconvergeError('FILE_IO', `build context ${root} has no ${dockerfile}`, {
      resource,
      terminal: true,
      hint: 'add the Dockerfile, or name it with build.dockerfile (relative to the context)',
    });
  }
  return out;
}

/** What the build is made of, and its hash. */
export function buildRecord(spec: BuildSpec, files: readonly ContextFile[]): BuildRecord {
  const args = Object.fromEntries(
    Object.entries(spec.args ?? {})
      .sort()
      .map(([k, v]) => [k, String(v)]),
  );
  const dockerfile = spec.dockerfile ?? 'Dockerfile';
  const h = createHash('sha256');
  for (const f of files) h.update(`${f.rel}\0${f.sha}\0`);
  h.update(JSON.stringify({ dockerfile, target: spec.target ?? null, args }));
  return {
    hash: h.digest('hex'),
    ...(files.length <= MAX_LISTED_FILES ? { files: Object.fromEntries(files.map((f) => [f.rel, f.sha])) } : {}),
    dockerfile,
    ...(spec.target !== undefined ? { target: spec.target } : {}),
    args,
  };
}

/** The record an image carries in its label, if any. */
export function recordOf(labels: Readonly<Record<string, string>> | null | undefined): BuildRecord | undefined {
  const text = labels?.[BUILD_LABEL];
  if (!text) return undefined;
  try {
    return JSON.parse(text) as BuildRecord;
  } catch {
    return undefined;
  }
}

/** The tag that names a build by its content: <repository>:tsc-<hash 12>. */
export function hashTag(ref: string, hash: string): string {
  const lastSlash = ref.lastIndexOf('/');
  const colon = ref.indexOf(':', lastSlash + 1);
  const repo = colon >= 0 ? ref.slice(0, colon) : ref.split('@')[0]!;
  return `${repo}:tsc-${hash.slice(0, 12)}`;
}

/** A ustar archive of the files (names over 100 bytes split into prefix and name). */
export function tarOf(files: readonly ContextFile[]): Buffer {
  const blocks: Buffer[] = [];
  for (const f of files) {
    const h = Buffer.alloc(512);
    let name = f.rel;
    let prefix = '';
    if (Buffer.byteLength(name) > 100) {
      const cut = name.lastIndexOf('/', name.length - 1);
      prefix = name.slice(0, cut);
      name = name.slice(cut + 1);
      if (cut < 0 || Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155)
        throw new Error(`build context: path too long for the archive: ${f.rel}`);
    }
    h.write(name, 0, 100, 'utf8');
    h.write(f.mode.toString(8).padStart(7, '0') + '\0', 100, 8, 'ascii');
    h.write('0000000\0', 108, 8, 'ascii');
    h.write('0000000\0', 116, 8, 'ascii');
    h.write(f.data.length.toString(8).padStart(11, '0') + '\0', 124, 12, 'ascii');
    h.write('00000000000\0', 136, 12, 'ascii'); // mtime 0: the archive depends on content only
    h.write('        ', 148, 8, 'ascii');
    h.write('0', 156, 1, 'ascii');
    h.write('ustar\0', 257, 6, 'ascii');
    h.write('00', 263, 2, 'ascii');
    h.write(prefix, 345, 155, 'utf8');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
    blocks.push(h, f.data, Buffer.alloc((512 - (f.data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/**
 * Build through the engine's build API and tag the result `tags`. The build's output
 * stream reports failures as JSON lines with `error`: those fail here, with the last lines
 * of the builder's output (never the args: their values are in the record, not the message).
 */
export async function buildImage(
  docker: Docker,
  spec: BuildSpec,
  files: readonly ContextFile[],
  record: BuildRecord,
  tags: readonly string[],
  resource: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  let stream: NodeJS.ReadableStream;
  try {
    stream = (await docker.buildImage(Readable.from([tarOf(files)]), {
      t: tags[0],
      dockerfile: record.dockerfile,
      ...(record.target !== undefined ? { target: record.target } : {}),
      ...(spec.network !== undefined ? { networkmode: spec.network } : {}),
      buildargs: record.args,
      labels: { [BUILD_LABEL]: JSON.stringify(record) },
      rm: true,
      forcerm: true,
      pull: false,
    } as Docker.ImageBuildOptions)) as NodeJS.ReadableStream;
  } catch (err) {
    throw new TsconvergeError('IMAGE_BUILD_FAILED', `build ${tags[0]}: ${(err as { json?: { message?: string } }).json?.message ?? (err as Error).message}`, {
      resource,
      cause: err,
      terminal: true,
      hint: "see the engine's message",
    });
  }
  const tail: string[] = [];
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    let done = false;
    const timer = setTimeout(
      () =>
        finish(
          new TsconvergeError('TIMEOUT', `build ${tags[0]}: no result within ${Math.round(timeoutMs / 1000)} s`, { resource, hint: 'raise buildTimeout' }),
        ),
      timeoutMs,
    );
    const onAbort = (): void => finish(new TsconvergeError('TIMEOUT', `build ${tags[0]}: aborted`, { resource }));
    signal?.addEventListener('abort', onAbort, { once: true });
    function finish(err?: Error): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      (stream as unknown as { destroy?: () => void }).destroy?.();
      if (err) reject(err);
      else resolve();
    }
    const line = (text: string): void => {
      if (!text.trim()) return;
      let obj: { stream?: string; error?: string; errorDetail?: { message?: string } };
      try {
        obj = JSON.parse(text);
      } catch {
        return;
      }
      if (obj.stream) {
        tail.push(...obj.stream.split('\n').filter((l) => l.trim()));
        tail.splice(0, Math.max(0, tail.length - 8));
      }
      if (obj.error || obj.errorDetail) {
        finish(
          new TsconvergeError('IMAGE_BUILD_FAILED', `build ${tags[0]}: ${obj.errorDetail?.message ?? obj.error}`, {
            resource,
            terminal: true,
            hint: `the builder's last lines:\n${tail.join('\n')}\nthe previous image (if any) is kept`,
          }),
        );
      }
    };
    stream.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        line(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    stream.on('error', (err: Error) => finish(new TsconvergeError('IMAGE_BUILD_FAILED', `build ${tags[0]}: ${err.message}`, { resource, cause: err })));
    stream.on('end', () => {
      line(buf);
      finish();
    });
  });
  for (const t of tags.slice(1)) {
    const colon = t.lastIndexOf(':');
    await docker.getImage(tags[0]!).tag({ repo: t.slice(0, colon), tag: t.slice(colon + 1) });
  }
}
