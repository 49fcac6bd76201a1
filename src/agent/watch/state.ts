/**
 * The files the watching agent and its runs share in the state directory (core/state-layout.ts): watch.json
 * (what to watch, written by every run from its catalogue: engine/watch.ts) and the event
 * file a run started by events reads (what the watcher saw), 0600, removed once read.
 */
import { readFile, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { writeFileAtomic } from '../../core/atomic.js';
import { stateLayout } from '../../core/state-layout.js';
import type { WatchList } from '../../engine/watch.js';
import type { EventRun } from '../report.js';

export async function writeWatchList(stateDir: string, list: WatchList): Promise<void> {
  const text = JSON.stringify(list) + '\n';
  const file = stateLayout(stateDir).watchList;
  try {
    if ((await readFile(file, 'utf8')) === text) return;
  } catch {
    /* none yet */
  }
  await writeFileAtomic(file, text, { mode: 0o644 });
}

export async function readWatchList(stateDir: string): Promise<WatchList | null> {
  try {
    const doc = JSON.parse(await readFile(stateLayout(stateDir).watchList, 'utf8')) as WatchList;
    return doc?.formatVersion === 1 && doc.docker && doc.paths ? doc : null;
  } catch {
    return null;
  }
}

/** Write what a run started by events needs; returns the file to pass to it. */
export async function writeEventRun(stateDir: string, event: EventRun): Promise<string> {
  const file = stateLayout(stateDir).eventRun(randomBytes(4).toString('hex'));
  await writeFileAtomic(file, JSON.stringify(event) + '\n', { mode: 0o600 });
  return file;
}

/** Read (and remove) the event file of a run. */
export async function takeEventRun(file: string): Promise<EventRun> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as EventRun;
  } finally {
    await unlink(file).catch(() => undefined);
  }
}
