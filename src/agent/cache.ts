/**
 * The last-known-good catalogue: the last catalogue that compiled (or was fetched) and
 * passed the graph check, kept with its digest in the state directory, so a source that
 * no longer compiles does not stop the agent. It holds resolved secrets, so it lives in
 * a 0700 directory as a 0600 file, written atomically; a file whose digest does not
 * match its content is refused, never run.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Catalogue } from '../core/types.js';
import { catalogueFromStored, storedResources, type StoredResource } from '../catalogue/stored.js';
import { TsconvergeError } from '../core/errors.js';
import { writeFileAtomic } from '../core/atomic.js';
import { stateLayout } from '../core/state-layout.js';
import { stampChange, type Stamp } from '../catalogue/stamp.js';

export interface CachedCatalogue {
  readonly catalogue: Catalogue;
  readonly digest: string;
  /** When it was compiled or fetched (ISO time). */
  readonly savedAt: string;
  readonly node?: string;
  readonly codeVersion?: string;
}

interface CacheFile {
  readonly formatVersion: 1;
  readonly digest: string;
  readonly savedAt: string;
  readonly node?: string;
  readonly codeVersion?: string;
  readonly resources: readonly StoredResource[];
}

export async function saveLastKnownGood(stateDir: string, c: Omit<CachedCatalogue, 'digest'>): Promise<void> {
  const file = stateLayout(stateDir).lastKnownGood;
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const doc: CacheFile = {
    formatVersion: 1,
    digest: c.catalogue.version,
    savedAt: c.savedAt,
    ...(c.node ? { node: c.node } : {}),
    ...(c.codeVersion ? { codeVersion: c.codeVersion } : {}),
    resources: storedResources(c.catalogue),
  };
  await writeFileAtomic(file, JSON.stringify(doc) + '\n', { mode: 0o600 });
}

/** The cached catalogue, or null when there is none. Throws when it exists but is unreadable or its digest does not match. */
export async function readLastKnownGood(stateDir: string): Promise<CachedCatalogue | null> {
  const file = stateLayout(stateDir).lastKnownGood;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new TsconvergeError('FILE_IO', `cannot read the last-known-good catalogue ${file}: ${(err as Error).message}`, { cause: err, location: { file } });
  }
  const bad = (why: string): TsconvergeError =>
    new TsconvergeError('FILE_IO', `the last-known-good catalogue ${file} is unusable: ${why}`, {
      location: { file },
      terminal: true,
      hint: 'it is rewritten by the next run whose catalogue compiles; remove it to silence this',
    });
  let doc: CacheFile;
  try {
    doc = JSON.parse(text) as CacheFile;
  } catch (err) {
    throw bad((err as Error).message);
  }
  if (doc?.formatVersion !== 1 || !Array.isArray(doc.resources)) throw bad('unknown format');
  const catalogue = catalogueFromStored(doc.resources, file);
  const digest = catalogue.version;
  if (digest !== doc.digest) throw bad(`its content hashes to ${digest}, not the recorded ${doc.digest}`);
  return { catalogue, digest, savedAt: doc.savedAt, ...(doc.node ? { node: doc.node } : {}), ...(doc.codeVersion ? { codeVersion: doc.codeVersion } : {}) };
}

/**
 * The stamp of the inputs the last-known-good catalogue was compiled from (stamp.ts),
 * beside it: a later run whose inputs have the same stamp reuses that catalogue.
 */
export async function writeInputsStamp(stateDir: string, stamp: Stamp, digest: string): Promise<void> {
  await writeFileAtomic(stateLayout(stateDir).inputsStamp, JSON.stringify({ formatVersion: 1, stamp: stamp.value, parts: stamp.parts, digest }) + '\n', {
    mode: 0o600,
  });
}

/**
 * The last-known-good catalogue when it was compiled from inputs with this stamp; else
 * why not, in words for the debug log (compile).
 */
export async function readReusable(stateDir: string, stamp: Stamp): Promise<CachedCatalogue | string> {
  let recorded: { stamp?: string; parts?: Record<string, string>; digest?: string };
  try {
    recorded = JSON.parse(await readFile(stateLayout(stateDir).inputsStamp, 'utf8')) as typeof recorded;
  } catch {
    return 'no earlier compile recorded its inputs';
  }
  if (recorded.stamp !== stamp.value) return stampChange(recorded.parts, stamp.parts);
  // A last-known-good that is unreadable or from other inputs: compile (the run says why if that fails too).
  const lkg = await readLastKnownGood(stateDir).catch(() => null);
  return lkg && lkg.digest === recorded.digest ? lkg : 'the last-known-good catalogue is not the one compiled from these inputs';
}
