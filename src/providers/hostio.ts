/**
 * Small helpers shared by the host settings providers (dns, ntp, logging, sysctl,
 * docker.daemon, service): running a checker binary (through core/exec.ts), finding a binary on PATH, and a per-file lock so
 * resources that share one owned file never interleave their read-modify-write.
 *
 * Nothing here runs at import time.
 */
import { access, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { TsconvergeError } from '../core/errors.js';
import { createProcessRunner, hostPathVariable, type ProcessRunner, type RunResult } from '../core/exec.js';

export type { RunResult } from '../core/exec.js';

const runner = createProcessRunner();

/**
 * Run a checker without a shell, with the clean environment of core/exec.ts, and
 * collect its output masked of known secrets. Resolves with the exit code (never
 * rejects on a non-zero exit); rejects with BINARY_NOT_FOUND when it cannot start.
 */
export function runCommand(
  file: string,
  args: readonly string[],
  opts: { signal?: AbortSignal; timeoutMs?: number; exec?: ProcessRunner } = {},
): Promise<RunResult> {
  return (opts.exec ?? runner).run(file, args, { signal: opts.signal, timeoutMs: opts.timeoutMs });
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
export async function findBinary(name: string, pathVar: string = hostPathVariable()): Promise<string | null> {
  if (name.includes('/')) return (await isExecutable(name)) ? name : null;
  for (const dir of pathVar.split(path.delimiter)) {
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
export async function readEach<R extends { readonly id: string }, O, C>(
  resources: readonly R[],
  ctx: C,
  readOne: (r: R, ctx: C) => Promise<O | null>,
): Promise<Map<string, O | null>> {
  return new Map(await Promise.all(resources.map(async (r) => [r.id, await readOne(r, ctx)] as const)));
}
