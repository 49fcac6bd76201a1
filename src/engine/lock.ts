/**
 * PROVISIONAL (helper "agent"): the run lock per the shared contract, until helper
 * "runctl"'s src/engine/lock.ts lands on main and replaces this file.
 */
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { TsconvergeError } from './errors.js';

export function resolveStateDir(opts: { stateDir?: string; root?: string }): string {
  if (opts.stateDir) return path.resolve(opts.stateDir);
  if (process.env.TSCONVERGE_STATE_DIR) return path.resolve(process.env.TSCONVERGE_STATE_DIR);
  const root = path.resolve(opts.root ?? '/');
  return path.join(root, 'var/lib/tsconverge');
}

export interface RunLockInfo { readonly pid: number; readonly since: string; readonly command: string; readonly start?: string }
export interface RunLock { readonly info: RunLockInfo; release(): Promise<void> }

function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return undefined;
    return fields[19];
  } catch { return undefined; }
}

export async function readRunLock(stateDir: string): Promise<RunLockInfo | null> {
  try { return JSON.parse(await readFile(path.join(stateDir, 'run.lock'), 'utf8')) as RunLockInfo; } catch { return null; }
}

function stale(info: RunLockInfo | null): boolean {
  if (!info || typeof info.pid !== 'number') return true;
  const st = startTime(info.pid);
  if (st === undefined) return true;
  return info.start !== undefined && info.start !== st;
}

export async function acquireRunLock(stateDir: string, opts: { command: string; waitMs?: number; signal?: AbortSignal }): Promise<RunLock> {
  await mkdir(stateDir, { recursive: true, mode: 0o755 });
  const file = path.join(stateDir, 'run.lock');
  const deadline = Date.now() + (opts.waitMs ?? 0);
  for (;;) {
    const info: RunLockInfo = { pid: process.pid, since: new Date().toISOString(), command: opts.command, start: startTime(process.pid) };
    try {
      const fh = await open(file, 'wx', 0o644);
      try { await fh.writeFile(JSON.stringify(info) + '\n'); } finally { await fh.close(); }
      return { info, release: async () => { const cur = await readRunLock(stateDir); if (cur?.pid === process.pid) await unlink(file).catch(() => undefined); } };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const cur = await readRunLock(stateDir);
    if (stale(cur)) { await unlink(file).catch(() => undefined); continue; }
    if (Date.now() >= deadline || opts.signal?.aborted) {
      throw new TsconvergeError('RUN_IN_PROGRESS', `a run is already in progress (pid ${cur!.pid}, since ${cur!.since})`, { terminal: true });
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
