/**
 * File reads for the catalogue compiler, memoised for frozen trees.
 *
 * The catalogue server compiles thousands of nodes from one snapshot of a fleet tree
 * (and from the modules shipped with tsconverge), which never change while they are
 * in use. `freezeTree(dir)` declares such a directory immutable: from then on every
 * read under it (file text, directory listings, stats, parsed YAML, loaded modules)
 * is done once and shared by every compile. Trees that are not frozen (the CLI's
 * `compile`, `apply` on a working copy) are read afresh every time, as before.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseLimits, readBoundedText, type ParseLimits } from './limits.js';

interface Memo {
  readonly values: Map<string, Promise<unknown>>;
}

const frozen = new Map<string, Memo>();

/** Declare `dir` immutable: reads under it are memoised until `thawTree(dir)`. */
export function freezeTree(dir: string): void {
  const root = path.resolve(dir);
  if (!frozen.has(root)) frozen.set(root, { values: new Map() });
}

/** Forget the memo of `dir` (its snapshot is gone or replaced). */
export function thawTree(dir: string): void {
  frozen.delete(path.resolve(dir));
}

function memoOf(p: string): Memo | undefined {
  for (const [root, memo] of frozen) if (p === root || p.startsWith(root + path.sep)) return memo;
  return undefined;
}

/** `fn()` once per key for a path under a frozen tree; every time otherwise. */
export function memoised<T>(p: string, kind: string, fn: () => Promise<T>): Promise<T> {
  const memo = memoOf(p);
  if (!memo) return fn();
  const key = `${kind}\0${p}`;
  let hit = memo.values.get(key) as Promise<T> | undefined;
  if (!hit) {
    hit = fn();
    memo.values.set(key, hit);
  }
  return hit;
}

/** A file's text within the parse limits (limits.ts: document size), memoised under a frozen tree. */
export function readText(file: string, limits: ParseLimits = parseLimits()): Promise<string> {
  return memoised(file, 'text', () => readBoundedText(file, limits));
}

/** Name -> whether it is a directory, for the entries of `dir` (symlinks followed); empty when missing. */
function entries(dir: string): Promise<Map<string, boolean>> {
  return memoised(dir, 'entries', async () => {
    const out = new Map<string, boolean>();
    try {
      for (const d of await readdir(dir, { withFileTypes: true })) {
        const isDirectory = d.isSymbolicLink()
          ? await stat(path.join(dir, d.name)).then(
              (s) => s.isDirectory(),
              () => undefined,
            )
          : d.isDirectory();
        if (isDirectory !== undefined) out.set(d.name, isDirectory);
      }
    } catch {
      /* missing */
    }
    return out;
  });
}

/** Names of the regular files (symlinks followed) in `dir`, sorted; [] when it is missing. */
export async function filesIn(dir: string): Promise<string[]> {
  return [...(await entries(dir))]
    .filter(([, isDirectory]) => !isDirectory)
    .map(([name]) => name)
    .sort();
}

export async function isFile(p: string): Promise<boolean> {
  // Under a frozen tree, one listing of the directory answers for every name in it.
  if (memoOf(p)) return (await entries(path.dirname(p))).get(path.basename(p)) === false;
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

export function isDir(p: string): Promise<boolean> {
  return memoised(p, 'isDir', async () => {
    try {
      return (await stat(p)).isDirectory();
    } catch {
      return false;
    }
  });
}

/** Names of the subdirectories of `p`, sorted; [] when it is missing. */
export function subdirs(p: string): Promise<string[]> {
  return memoised(p, 'subdirs', async () => {
    try {
      return (await readdir(p, { withFileTypes: true }))
        .filter((d) => d.isDirectory())
        .map((d) => d.name)
        .sort();
    } catch {
      return [];
    }
  });
}
