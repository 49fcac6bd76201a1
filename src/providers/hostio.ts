/**
 * Small helpers shared by the host settings providers (dns, ntp, logging, sysctl,
 * docker.daemon, service): paths under the host root, reading files that may be
 * absent, running a checker binary, finding a binary on PATH, and a per-file lock so
 * resources that share one owned file never interleave their read-modify-write.
 *
 * Nothing here runs at import time.
 */
import { execFile } from 'node:child_process';
import { access, readFile, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { TsconvergeError } from '../engine/errors.js';

/** An absolute host path under the host root: hostPath('/tmp/r', '/etc/hosts') -> '/tmp/r/etc/hosts'. */
export function hostPath(root: string, absolute: string): string {
  if (!path.isAbsolute(absolute)) {
    throw new TsconvergeError('INVALID_VALUE', `path ${JSON.stringify(absolute)} is not absolute`, {
      hint: 'host paths are written as absolute paths (/etc/...); they are resolved under the root directory',
      terminal: true,
    });
  }
  return path.join(root, absolute);
}

/** A file's text, or null when it does not exist. Other errors (permission) throw FILE_IO. */
export async function readTextIfExists(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw new TsconvergeError('FILE_IO', `cannot read ${file}: ${(err as Error).message}`, {
      cause: err,
      hint: 'check that tsconverge runs with permission to read this file',
    });
  }
}

export async function existsPath(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Run a command without a shell and collect its output. Resolves with the exit code
 * (never rejects on a non-zero exit); rejects with BINARY_NOT_FOUND when it cannot start.
 */
export function runCommand(file: string, args: readonly string[], opts: { signal?: AbortSignal; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { signal: opts.signal, timeout: opts.timeoutMs ?? 30_000, env: opts.env, maxBuffer: 8 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EACCES') {
          reject(new TsconvergeError('BINARY_NOT_FOUND', `cannot run ${file}: ${err.message}`, { cause: err, hint: `install ${path.basename(file)} or point tsconverge to it` }));
          return;
        }
        reject(err);
        return;
      }
      const exit = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof exit === 'number' ? exit : 1, stdout, stderr });
    });
  });
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

/**
 * Find a binary: an explicit absolute path is checked as it is; a bare name is looked
 * up on PATH only (so a test can hide a binary by narrowing PATH). Returns null when
 * it is not there.
 */
export async function findBinary(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  if (name.includes('/')) return (await isExecutable(name)) ? name : null;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return null;
}

/** Like findBinary, but throws a clear BINARY_NOT_FOUND error naming what needs it. */
export async function requireBinary(name: string, neededFor: string, pkg: string, resource?: string): Promise<string> {
  const found = await findBinary(name);
  if (found) return found;
  throw new TsconvergeError('BINARY_NOT_FOUND', `${name} was not found ${name.includes('/') ? 'or is not executable' : 'on PATH'}; it is needed ${neededFor}`, {
    resource,
    hint: `install the Debian package ${pkg} (apt-get install ${pkg}), or set PATH so that it contains ${name}`,
    terminal: true,
  });
}

/** The last lines of a command's output, for error messages. */
export function tail(text: string, lines = 8): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

const locks = new Map<string, Promise<unknown>>();

/**
 * Serialise read-modify-write sections on one file within this process: resources of
 * one kind that share an owned file (every sysctl persists into one file) are applied
 * in parallel by the engine.
 */
export async function withFileLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const prior = locks.get(file) ?? Promise.resolve();
  const run = prior.then(fn, fn);
  const settled = run.catch(() => undefined);
  locks.set(file, settled);
  try {
    return await run;
  } finally {
    if (locks.get(file) === settled) locks.delete(file);
  }
}

/** Sorted copy without duplicates (sets the system does not keep in order). */
export function sortedUnique(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}

/** Normalise line endings and make sure the text ends with exactly one newline. */
export function withFinalNewline(text: string): string {
  const t = text.replace(/\r\n/g, '\n').replace(/\n+$/, '');
  return t === '' ? '' : t + '\n';
}

/**
 * Drop unset values (null, empty lists, empty maps) from a view of a file tsconverge
 * owns whole: unset on both sides compares equal without noise in a create plan, and
 * a directive added by hand still shows, as a value that is to be removed.
 */
export function compactView<V extends Record<string, unknown>>(view: V): V {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(view)) {
    if (v === null || v === undefined) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0) continue;
    out[k] = v;
  }
  return out as V;
}

/** The batch read of providers whose resources are independent files: all read at once. */
export async function readEach<R extends { readonly id: string }, O, C>(resources: readonly R[], ctx: C, readOne: (r: R, ctx: C) => Promise<O | null>): Promise<Map<string, O | null>> {
  return new Map(await Promise.all(resources.map(async (r) => [r.id, await readOne(r, ctx)] as const)));
}
