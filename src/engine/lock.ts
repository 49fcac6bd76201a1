/**
 * The run lock: one run that changes the host at a time.
 *
 * The lock is `<stateDir>/run.lock` (core/state-layout.ts), a small JSON file `{ pid, since, command, start }`.
 * It is created complete and exclusively in one step: the content is written to a
 * private temp file which is then hard-linked to `run.lock` (link() fails with EEXIST
 * when the lock exists), so no reader ever sees a half-written lock.
 *
 * A lock is stale when its pid is dead (or a zombie), or when the pid now belongs to
 * another process: the start time recorded in the lock (field 22 of /proc/<pid>/stat)
 * differs from the live process's. A stale lock is taken over under a takeover mutex
 * (`run.lock.takeover`, a directory made with mkdir, which is atomic): inside it the lock
 * is read again and removed only if it is still the same stale lock, so two processes
 * that both saw the stale lock cannot both take it — one removes it, and both then race
 * fairly on link(), where exactly one wins.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import { TsconvergeError } from '../core/errors.js';
import { stateLayout } from '../core/state-layout.js';

export interface RunLockInfo {
  readonly pid: number;
  readonly since: string;
  readonly command: string;
}
export interface RunLock {
  readonly info: RunLockInfo;
  release(): Promise<void>;
}

interface LockFile extends RunLockInfo {
  /** Start time of the process, in clock ticks since boot (/proc/<pid>/stat field 22). */
  readonly start?: string;
}

/** A takeover mutex older than this was left by a process that died inside it. */
const TAKEOVER_STALE_MS = 10_000;
const POLL_MS = 100;

/** The start time of a live process, or undefined when it is gone (a zombie counts as gone). */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) is in parentheses and may contain spaces: fields start after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
    return rest[19];
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseLock(text: string): LockFile | null {
  try {
    const v = JSON.parse(text) as Partial<LockFile>;
    if (typeof v.pid !== 'number' || !Number.isInteger(v.pid) || v.pid < 1 || typeof v.since !== 'string' || typeof v.command !== 'string') return null;
    return { pid: v.pid, since: v.since, command: v.command, ...(typeof v.start === 'string' ? { start: v.start } : {}) };
  } catch {
    return null;
  }
}

/** Whether the process that wrote this lock is gone (dead, zombie, or its pid reused). */
function isStale(lock: LockFile | null): boolean {
  if (!lock) return true; // unreadable content: no live run can be named, so no run holds it
  const proc = existsProc(lock.pid);
  if (proc === undefined) return !alive(lock.pid); // no /proc to ask: fall back to signal 0
  const start = processStartTime(lock.pid);
  if (start === undefined) return true; // gone, or a zombie
  return lock.start !== undefined && lock.start !== start;
}

function existsProc(pid: number): boolean | undefined {
  try {
    readFileSync(`/proc/${pid}/stat`);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? false : undefined;
  }
}

async function readRaw(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Who holds the lock in `stateDir`, or null when nobody does (no lock, or an unreadable one). */
export async function readRunLock(stateDir: string): Promise<RunLockInfo | null> {
  const raw = await readRaw(stateLayout(stateDir).runLock);
  const lock = raw === null ? null : parseLock(raw);
  return lock ? { pid: lock.pid, since: lock.since, command: lock.command } : null;
}

function busyError(lock: LockFile | null, stateDir: string): TsconvergeError {
  const who = lock ? `pid ${lock.pid}, since ${lock.since}` : 'pid unknown, since unknown';
  return new TsconvergeError('RUN_IN_PROGRESS', `a run is already in progress (${who})`, {
    terminal: true,
    hint: `wait for it to finish or pass --wait-for-lock SECONDS; the lock is ${stateLayout(stateDir).runLock} and is taken over automatically once its process is gone`,
  });
}

/** Remove the lock if it still has exactly the content `seen` (a stale lock), under the takeover mutex. */
async function takeOver(stateDir: string, seen: string): Promise<boolean> {
  const mutex = stateLayout(stateDir).runLockTakeover;
  try {
    await fs.mkdir(mutex);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const st = await fs.stat(mutex).catch(() => null);
    if (st && Date.now() - st.mtimeMs > TAKEOVER_STALE_MS) await fs.rmdir(mutex).catch(() => undefined);
    return false; // someone else is taking over; the caller tries again
  }
  try {
    const now = await readRaw(stateLayout(stateDir).runLock);
    if (now === seen) await fs.unlink(stateLayout(stateDir).runLock).catch(() => undefined);
    return true;
  } finally {
    await fs.rmdir(mutex).catch(() => undefined);
  }
}

/** One attempt: link a complete lock file into place. True when we hold the lock. */
async function tryLink(stateDir: string, content: string): Promise<boolean> {
  const tmp = stateLayout(stateDir).runLockCandidate(`${process.pid}.${randomBytes(6).toString('hex')}`);
  await fs.writeFile(tmp, content, { mode: 0o644, flag: 'wx' });
  try {
    await fs.chmod(tmp, 0o644);
    await fs.link(tmp, stateLayout(stateDir).runLock);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await fs.unlink(tmp).catch(() => undefined);
  }
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted while waiting for the run lock');
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = (): void => {
      clearTimeout(t);
      reject(abortError(signal!));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Takes <stateDir>/run.lock (created exclusively, 0644, dir 0755 created if missing).
 * Busy -> calls onWait once with the holder, waits up to waitMs (default 0), then throws TsconvergeError code 'RUN_IN_PROGRESS'
 * with message `a run is already in progress (pid N, since T)`. A stale lock (dead pid, or the
 * pid now belongs to another process: /proc/<pid>/stat start time differs) is taken over.
 */
export async function acquireRunLock(
  stateDir: string,
  opts: { command: string; waitMs?: number; signal?: AbortSignal; onWait?: (held: RunLockInfo) => void },
): Promise<RunLock> {
  await fs.mkdir(stateDir, { recursive: true, mode: 0o755 });
  const lockPath = stateLayout(stateDir).runLock;
  const info: LockFile = { pid: process.pid, since: new Date().toISOString(), command: opts.command, start: processStartTime(process.pid) };
  const content = JSON.stringify(info) + '\n';
  const deadline = Date.now() + Math.max(0, opts.waitMs ?? 0);
  let waiting = false;
  for (;;) {
    if (opts.signal?.aborted) throw abortError(opts.signal);
    if (await tryLink(stateDir, content)) break;
    const raw = await readRaw(lockPath);
    if (raw === null) continue; // released between our link and read: try again
    const held = parseLock(raw);
    if (isStale(held)) {
      if (!(await takeOver(stateDir, raw))) await sleep(10, opts.signal);
      continue;
    }
    if (Date.now() >= deadline) throw busyError(held, stateDir);
    if (!waiting && held) {
      waiting = true;
      opts.onWait?.(held);
    }
    await sleep(Math.min(POLL_MS, Math.max(1, deadline - Date.now())), opts.signal);
  }
  let released = false;
  return {
    info: { pid: info.pid, since: info.since, command: info.command },
    async release(): Promise<void> {
      if (released) return;
      released = true;
      // Remove only our own lock: never one a later run took over.
      if ((await readRaw(lockPath)) === content) await fs.unlink(lockPath).catch(() => undefined);
    },
  };
}
