/**
 * Nothing forgotten: a refresh (restart) owed to a resource because something that
 * notifies it changed is recorded in the state directory (`owed.json`, core/state-layout.ts) before that
 * change is applied, and cleared only once the refresh has happened (or the resource
 * was created or replaced, which starts it fresh). A run that fails or is interrupted
 * in between hands the restart on to the next run, which does it even though nothing
 * differs any more.
 *
 * A change that failed and provably left the resource as it was (a second read shows
 * the same difference) owes nothing: the run retracts what it had just recorded.
 *
 * Without a state directory the store lives in memory for the run only. Under noop it
 * is read, never written. Writes are atomic (temp file and rename) and serialised.
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../core/atomic.js';
import { stateLayout } from '../core/state-layout.js';

export interface OwedEntry {
  readonly because: string;
  readonly since: string;
}

export interface OwedStore {
  /** Why a refresh is owed to `id`, when one is. */
  get(id: string): OwedEntry | undefined;
  /** Record refreshes owed to `ids` because `because` is about to change; persisted before it resolves. Returns the ids newly owed. */
  add(ids: readonly string[], because: string): Promise<string[]>;
  /** The refresh happened: forget it. */
  clear(id: string): Promise<void>;
}

export async function openOwed(stateDir: string | undefined, writable: boolean): Promise<OwedStore> {
  const file = stateDir ? stateLayout(stateDir).owedRestarts : undefined;
  let owed: Record<string, OwedEntry> = {};
  if (file) {
    try {
      owed = JSON.parse(await readFile(file, 'utf8')) as Record<string, OwedEntry>;
    } catch {
      /* none owed */
    }
  }
  let chain: Promise<void> = Promise.resolve();
  const save = (): Promise<void> => {
    if (!file || !writable) return Promise.resolve();
    const text = JSON.stringify(owed, null, 1) + '\n';
    chain = chain.then(() => writeFileAtomic(file, text, { mode: 0o644 }));
    return chain;
  };
  return {
    get: (id) => owed[id],
    async add(ids, because) {
      const fresh = ids.filter((id) => !owed[id]);
      if (fresh.length === 0) return [];
      owed = { ...owed, ...Object.fromEntries(fresh.map((id) => [id, { because, since: new Date().toISOString() }])) };
      await save();
      return fresh;
    },
    async clear(id) {
      if (!owed[id]) return;
      const { [id]: _gone, ...rest } = owed;
      owed = rest;
      await save();
    },
  };
}
