/**
 * The one-shot CLI's stored compile (`apply`, `plan`): the catalogue last compiled by an
 * `apply`, kept in the state directory (`catalogue/compiled.json`, core/state-layout.ts) beside the stamp of its inputs (stamp.ts: every
 * file under the manifest tree and the secrets directory by stat, the facts but uptime,
 * the flags and TSCONVERGE_* variables that a compile reads, the program itself). A
 * later run whose inputs have the same stamp takes that catalogue instead of parsing
 * and compiling the manifests again; any change compiles fresh.
 *
 * - Only `apply` writes it, after its run, atomically, 0600 in a 0700 directory;
 *   `plan`/`apply --noop` only read it (they write nothing).
 * - A catalogue that holds a secret value (a sensitive attribute that is set, or any
 *   known secret in its text) is never written: such a run compiles every time.
 * - The file is read only when it, its directory and the state directory belong to
 *   this user and no one else can write them; otherwise the run compiles.
 * - A tree with a file changed within the last second gets no stamp (timestamps have a
 *   granularity), so it is compiled and stored at a later run. The state directory is
 *   left out of the stamp when it lies inside the tree.
 * `--no-compile-cache` turns it off: neither read nor written.
 */
import { constants } from 'node:fs';
import { mkdir, open, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Catalogue } from '../core/types.js';
import { isFleetTree, loadAnyCatalogue } from './load-any.js';
import type { FleetOptions } from './fleet.js';
import { DEFAULT_SECRETS_DIR } from './secrets.js';
import { inputsStamp, stampChange, type Stamp } from './stamp.js';
import { catalogueFromStored, storedResources, type StoredResource } from './stored.js';
import { writeFileAtomic } from '../core/atomic.js';
import { knownSecrets } from '../core/redact.js';
import { stateLayout } from '../core/state-layout.js';

/** A tree changed more recently than this is not stamped (stamp.ts). */
export const SETTLE_MS = 1000;

interface StoredCompile {
  readonly formatVersion: 1;
  readonly stamp: string;
  /** The stamp's parts (stamp.ts), so that the next compile can say what changed. */
  readonly parts?: Readonly<Record<string, string>>;
  readonly digest: string;
  readonly compiledAt: string;
  readonly resources: readonly StoredResource[];
}

export interface LoadedCatalogue {
  readonly catalogue: Catalogue;
  /** Why it was compiled, or that it was reused (for the debug log). */
  readonly how: string;
  /** apply, after its run: store this compile for the next run (nothing when reused, unstamped or holding secrets). */
  readonly save: () => Promise<void>;
}

/** Mode and owner that only this user could have written. */
function ownedOnly(st: { uid: number; mode: number }): boolean {
  const euid = process.geteuid?.();
  return euid !== undefined && st.uid === euid && (st.mode & 0o022) === 0;
}

/** True when this user alone can write the directory; undefined when it does not exist. */
async function trustedDir(dir: string): Promise<boolean | undefined> {
  try {
    const st = await stat(dir);
    return st.isDirectory() && ownedOnly(st);
  } catch {
    return undefined;
  }
}

/** The stored compile when it was made from inputs with this stamp, and the file and its directories are this user's alone; else null. */
async function readStored(stateDir: string, stamp: Stamp): Promise<{ catalogue: Catalogue; compiledAt: string } | null | string> {
  const file = stateLayout(stateDir).storedCompile;
  for (const dir of [stateDir, path.dirname(file)]) {
    const trusted = await trustedDir(dir);
    if (trusted === undefined) return null;
    if (!trusted) return `${dir} is not this user's alone`;
  }
  let text: string;
  try {
    const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const st = await fh.stat();
      if (!st.isFile() || !ownedOnly(st)) return `${file} is not this user's alone`;
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch {
    return null;
  }
  let doc: StoredCompile;
  try {
    doc = JSON.parse(text) as StoredCompile;
  } catch {
    return `${file} is not JSON`;
  }
  if (doc?.formatVersion !== 1 || !Array.isArray(doc.resources)) return `${file} has an unknown format`;
  if (doc.stamp !== stamp.value) return `since the stored compile ${stampChange(doc.parts, stamp.parts)}`;
  const catalogue = catalogueFromStored(doc.resources, file);
  if (catalogue.version !== doc.digest) return `${file} does not match its digest`;
  return { catalogue, compiledAt: doc.compiledAt };
}

/** True when the catalogue holds a secret value: a sensitive attribute that is set, or a known secret anywhere in it. */
export function holdsSecrets(resources: readonly StoredResource[], text: string): boolean {
  for (const r of resources) {
    for (const p of r.sensitive) {
      const top = p.replace(/^\//, '').split('/')[0]!.replace(/~1/g, '/').replace(/~0/g, '~');
      if (r.attrs[top] !== undefined) return true;
    }
  }
  return knownSecrets().some((s) => text.includes(s));
}

/**
 * Load what PATH names (load-any.ts), taking the stored compile when its inputs are
 * unchanged. Reads only: the caller runs `save` after an apply (never after a noop run).
 */
export async function loadReusingCompile(
  target: string,
  opts: FleetOptions & { readonly stateDir: string; readonly enabled: boolean },
): Promise<LoadedCatalogue> {
  const none = async (): Promise<void> => undefined;
  if (!opts.enabled) return { catalogue: await loadAnyCatalogue(target, opts), how: 'compiled (--no-compile-cache)', save: none };
  const fleet = await isFleetTree(target);
  let isDir = false;
  try {
    isDir = (await stat(target)).isDirectory();
  } catch {
    /* the compile reports it */
  }
  const stamp = await inputsStamp({
    // A single manifest file's tree is its directory (templates are confined to it).
    paths: [
      isDir ? target : path.dirname(target),
      fleet ? path.resolve(opts.secrets?.dir ?? process.env.TSCONVERGE_SECRETS_DIR ?? DEFAULT_SECRETS_DIR) : undefined,
    ],
    facts: opts.facts,
    // Secrets can also come from TSCONVERGE_* variables; only their hash enters the stamp.
    options: {
      target: path.resolve(target),
      node: opts.node,
      environment: opts.environment,
      env: Object.entries(process.env)
        .filter(([k]) => k.startsWith('TSCONVERGE_'))
        .sort(),
    },
    settledBeforeMs: Date.now() - SETTLE_MS,
    exclude: [path.resolve(opts.stateDir)],
  });
  if (stamp === undefined)
    return {
      catalogue: await loadAnyCatalogue(target, opts),
      how: 'compiled (a file under the tree changed within the last second, or the tree is too large to stamp)',
      save: none,
    };
  const stored = await readStored(opts.stateDir, stamp);
  if (stored && typeof stored === 'object')
    return { catalogue: stored.catalogue, how: `reused: the inputs are unchanged since the compile of ${stored.compiledAt}`, save: none };
  const catalogue = await loadAnyCatalogue(target, opts);
  const compiledAt = new Date().toISOString();
  return {
    catalogue,
    how: `compiled (${stored ?? 'no stored compile'})`,
    save: async () => {
      const resources = storedResources(catalogue);
      const doc: StoredCompile = { formatVersion: 1, stamp: stamp.value, parts: stamp.parts, digest: catalogue.version, compiledAt, resources };
      const text = JSON.stringify(doc) + '\n';
      if (holdsSecrets(resources, text)) return;
      const file = stateLayout(opts.stateDir).storedCompile;
      await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      if (!(await trustedDir(opts.stateDir)) || !(await trustedDir(path.dirname(file)))) return; // never read back: not worth writing
      await writeFileAtomic(file, text, { mode: 0o600 });
    },
  };
}
