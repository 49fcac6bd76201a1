/**
 * The inputs stamp of a local catalogue source: a sha256 over everything a compile reads
 * that can change between runs, taken from stat() alone (no file is read): every file
 * under the manifest tree (path, type, size, mtime and ctime in nanoseconds, inode) and
 * every directory's list of entries, the secrets directory likewise, the facts (but uptimeSeconds), the source
 * options, and the program itself (its files' stamps: a new tsconverge recompiles).
 * Templates are confined to the manifest tree (render.ts), so nothing outside it is read.
 *
 * Equal stamps mean the compile would read the same bytes with the same facts, so the
 * last catalogue compiled from them is reused instead of compiling again (source.ts).
 * Changing, adding or removing any file under the tree changes the stamp, and the next
 * run compiles. A tree too large to stat cheaply (over MAX_ENTRIES) gets no stamp: it is
 * compiled every run.
 *
 * `settledBeforeMs` (the one-shot CLI's stored catalogue, compile-cache.ts): a file
 * changed at or after that time gets no stamp either. A timestamp has a granularity (a
 * clock tick, or a whole second on some file systems), so a file edited twice within
 * one tick, with the same size, would keep its stamp; a tree that changed within the
 * last second is compiled, and stamped at a later run once it has settled. `exclude`
 * leaves tsconverge's own state directory out when it lies inside the tree (every
 * apply writes there; no manifest reads it).
 */
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLE } from '../core/bundle.js';
import type { Facts } from '../facts/facts.js';

export const MAX_ENTRIES = 20_000;

async function walk(root: string, out: string[], budget: { left: number }, settledBeforeNs?: bigint, exclude: readonly string[] = []): Promise<boolean> {
  const visit = async (p: string, rel: string): Promise<boolean> => {
    if (exclude.includes(p)) return true;
    if (--budget.left < 0) return false;
    let st;
    try {
      st = await stat(p, { bigint: true });
    } catch {
      out.push(`${rel}\0missing`);
      return true;
    }
    const type = st.isDirectory() ? 'd' : st.isFile() ? 'f' : 'o';
    // A directory is its list of entries (each stamped below), not its own times: they
    // move when tsconverge creates its state directory inside the tree, which is left out.
    if (type === 'd') {
      out.push(`${rel}\0d`);
    } else {
      if (settledBeforeNs !== undefined && (st.mtimeNs >= settledBeforeNs || st.ctimeNs >= settledBeforeNs)) return false;
      out.push(`${rel}\0${type}\0${st.size}\0${st.mtimeNs}\0${st.ctimeNs}\0${st.ino}`);
      return true;
    }
    let names: string[];
    try {
      names = (await readdir(p)).sort();
    } catch {
      return true;
    }
    for (const n of names) if (!(await visit(path.join(p, n), `${rel}/${n}`))) return false;
    return true;
  };
  return visit(root, root);
}

/**
 * A stamp and its parts: one hash per input (the manifest tree, the secrets directory,
 * the program, the options, each top-level fact). The stamp is the hash of the parts;
 * the parts are kept beside it so that a run that compiles can say what changed.
 */
export interface Stamp {
  readonly value: string;
  readonly parts: Readonly<Record<string, string>>;
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 32);

/** The stamp of a compile's inputs, or undefined when the tree is too large to stamp (or has not settled). */
export async function inputsStamp(input: {
  readonly paths: readonly (string | undefined)[];
  readonly facts: Facts;
  readonly options: unknown;
  /** Give no stamp when a file changed at or after this time (ms since the epoch). */
  readonly settledBeforeMs?: number;
  /** Absolute paths left out of the walk (tsconverge's own state directory when it is inside the tree). */
  readonly exclude?: readonly string[];
}): Promise<Stamp | undefined> {
  const budget = { left: MAX_ENTRIES };
  const settled = input.settledBeforeMs === undefined ? undefined : BigInt(Math.floor(input.settledBeforeMs)) * 1_000_000n;
  const parts: Record<string, string> = {};
  // The manifest tree, the secrets directory, and the program: the executable, or dist/.
  const program = BUNDLE ? [process.execPath] : [process.execPath, fileURLToPath(new URL('..', import.meta.url))];
  const walked: [string, readonly (string | undefined)[]][] = [
    ['tree', input.paths.slice(0, 1)],
    ['secrets', input.paths.slice(1)],
    ['program', program],
  ];
  for (const [name, paths] of walked) {
    const lines: string[] = [];
    for (const p of paths) {
      if (p === undefined) continue;
      if (!(await walk(path.resolve(p), lines, budget, settled, input.exclude))) return undefined;
    }
    if (lines.length) parts[name] = sha(lines.join('\n'));
  }
  const { uptimeSeconds: _uptime, ...facts } = input.facts;
  for (const k of Object.keys(facts).sort()) parts[`facts.${k}`] = sha(JSON.stringify(facts[k]) ?? 'undefined');
  parts.options = sha(JSON.stringify(input.options ?? null));
  return { value: `sha256:${createHash('sha256').update(JSON.stringify(parts)).digest('hex')}`, parts };
}

/**
 * What differs between the parts of an earlier stamp and this one, in words for the debug
 * log: "the manifest tree changed; the facts changed (network, interfaces)".
 */
export function stampChange(before: Readonly<Record<string, string>> | undefined, now: Readonly<Record<string, string>>): string {
  if (!before || typeof before !== 'object') return 'no earlier compile recorded its inputs';
  const changed = (k: string) => before[k] !== now[k];
  const out: string[] = [];
  if (changed('tree')) out.push('the manifest tree changed');
  if (changed('secrets')) out.push('the secrets directory changed');
  if (changed('program')) out.push('the program changed');
  if (changed('options')) out.push('the options or TSCONVERGE_* variables changed');
  const keys = [...new Set([...Object.keys(before), ...Object.keys(now)])]
    .filter((k) => k.startsWith('facts.') && changed(k))
    .map((k) => k.slice(6))
    .sort();
  if (keys.length) out.push(`the facts changed (${keys.join(', ')})`);
  return out.length ? out.join('; ') : 'the inputs changed';
}
