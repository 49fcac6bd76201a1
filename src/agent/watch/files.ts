/**
 * File events: the PARENT directory of every managed file is watched (inotify through
 * fs.watch), never the file itself: an editor's save, `sed -i` and `mv` replace the file
 * by a rename, which gives it a new inode, and a watch on the old inode would see nothing
 * more. A directory that does not exist yet is skipped; the run that creates it writes a
 * new watch list, and the watches are set again from it.
 */
import { watch, type FSWatcher } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import type { FileSeen } from '../../engine/seen.js';

export interface FileWatches {
  /** Watch these host paths (as declared; joined onto the root). Returns how many directories are watched. */
  set(paths: readonly string[]): number;
  stop(): void;
}

export function createFileWatches(
  root: string,
  onEvent: (declared: string, seen: Promise<FileSeen>) => void,
  onError: (dir: string, err: Error) => void,
): FileWatches {
  const watchers = new Map<string, FSWatcher>();
  /** directory on disk -> file name -> declared path */
  let byDir = new Map<string, Map<string, string>>();

  const seenOf = async (declared: string, real: string, event: 'rename' | 'change', time: Date): Promise<FileSeen> => {
    try {
      const st = await lstat(real);
      return {
        source: 'file',
        path: declared,
        event,
        time: time.toISOString(),
        exists: true,
        uid: st.uid,
        gid: st.gid,
        mode: (st.mode & 0o7777).toString(8).padStart(4, '0'),
        size: st.size,
      };
    } catch {
      return { source: 'file', path: declared, event, time: time.toISOString(), exists: false };
    }
  };

  return {
    set(paths) {
      const next = new Map<string, Map<string, string>>();
      for (const p of paths) {
        const real = path.join(root, p);
        const dir = path.dirname(real);
        let names = next.get(dir);
        if (!names) next.set(dir, (names = new Map()));
        names.set(path.basename(real), p);
      }
      byDir = next;
      for (const [dir, w] of watchers)
        if (!next.has(dir)) {
          w.close();
          watchers.delete(dir);
        }
      for (const dir of next.keys()) {
        if (watchers.has(dir)) continue;
        try {
          const w = watch(dir, { persistent: false }, (event, name) => {
            const file = name === null ? undefined : String(name);
            const declared = file ? byDir.get(dir)?.get(file) : undefined;
            if (!declared) return;
            onEvent(declared, seenOf(declared, path.join(dir, file!), event === 'change' ? 'change' : 'rename', new Date()));
          });
          w.on('error', (err) => {
            w.close();
            watchers.delete(dir);
            onError(dir, err);
          });
          watchers.set(dir, w);
        } catch {
          /* not there yet: the next watch list sets it */
        }
      }
      return watchers.size;
    },
    stop() {
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}
