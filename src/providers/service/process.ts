/**
 * The service backend for hosts without systemd: tsconverge manages a real process
 * from a declared start command and a pidfile. It starts the command detached (its own
 * process group, outliving tsconverge), records or waits for the pidfile, checks that
 * the process is alive (a zombie, or a pid reused by another program, is not),
 * reloads it with a signal (SIGHUP) and stops it with SIGTERM, then SIGKILL after the
 * stop timeout; a stop waits for the daemon's descendants too.
 */
import { existsSync, constants as fsConstants } from 'node:fs';
import { open, readFile, readdir } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { TsconvergeError } from '../../core/errors.js';
import { tail } from '../hostio.js';
import type { RootFs } from '../../core/rootfs.js';
import type { ProcessRunner } from '../../core/exec.js';

export interface ProcessSpec {
  readonly id: string;
  readonly start: readonly string[];
  /** Host path of the pidfile (reached through `fs`, confined to the root). */
  readonly pidfile: string;
  /** The confined file system and the clean process runner of the provider context. */
  readonly fs: RootFs;
  readonly exec: ProcessRunner;
  readonly writesPidfile: boolean;
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Host path of the log file (confined to the root), or undefined for none. */
  readonly logFile?: string;
  readonly reloadSignal: NodeJS.Signals;
  readonly stopSignal: NodeJS.Signals;
  readonly stopTimeoutMs: number;
  readonly startTimeoutMs: number;
}

export interface ProcessState {
  readonly running: boolean;
  readonly pid: number | null;
}

export function checkSignal(name: string, resource: string): NodeJS.Signals {
  const sig = (name.startsWith('SIG') ? name : `SIG${name}`).toUpperCase();
  if (!(sig in osConstants.signals)) {
    throw new TsconvergeError('INVALID_VALUE', `unknown signal ${JSON.stringify(name)}`, {
      resource,
      terminal: true,
      hint: 'use a signal name such as SIGHUP, SIGTERM, SIGUSR1',
    });
  }
  return sig as NodeJS.Signals;
}

/** The host path of the pidfile: declared, or /run/tsconverge/<name>.pid. */
export function pidfileOf(declared: string | undefined, name: string): string {
  return declared ?? `/run/tsconverge/${name.replace(/[^A-Za-z0-9._-]/g, '_')}.pid`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function readPid(fs: RootFs, pidfile: string, id?: string): Promise<number | null> {
  const text = await fs.readText(pidfile, { resource: id });
  const pid = text === null ? NaN : Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 1 ? pid : null;
}

/** Alive, not a zombie, and (when known) running the declared program. */
export async function isAlive(pid: number, program?: string): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    if (program === undefined) return true;
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
    return cmdline.includes(path.basename(program));
  } catch {
    return false;
  }
}

/**
 * The process in the pidfile, if it is alive. When tsconverge wrote the pidfile it
 * knows the program it started, and a pid reused by another program is not ours; a
 * pidfile the command writes itself may name a forked child, so it is trusted as
 * init scripts trust theirs.
 */
export async function readProcess(spec: Pick<ProcessSpec, 'pidfile' | 'start' | 'writesPidfile' | 'fs'> & { readonly id?: string }): Promise<ProcessState> {
  const pid = await readPid(spec.fs, spec.pidfile, spec.id);
  if (pid === null) return { running: false, pid: null };
  return (await isAlive(pid, spec.writesPidfile ? undefined : spec.start[0])) ? { running: true, pid } : { running: false, pid: null };
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() >= deadline || signal?.aborted) return false;
    await sleep(100);
  }
}

async function logTail(spec: ProcessSpec): Promise<string> {
  if (!spec.logFile) return '';
  const text = await spec.fs.readText(spec.logFile).catch(() => null);
  return text ? `; last lines of ${spec.logFile}:\n${tail(text, 10)}` : '';
}

export async function startProcess(spec: ProcessSpec, signal?: AbortSignal): Promise<ProcessState> {
  const current = await readProcess(spec);
  if (current.running) return current;
  if (spec.start.length === 0) {
    throw new TsconvergeError('INVALID_VALUE', 'no start command is declared', {
      resource: spec.id,
      terminal: true,
      hint: 'declare `start: [program, arg, ...]` for a service on a host without systemd',
    });
  }
  // Every path is checked against the root before anything is changed.
  for (const p of [spec.pidfile, spec.logFile]) if (p !== undefined) await spec.fs.resolve(p, { resource: spec.id });
  const cwd = spec.cwd !== undefined ? await spec.fs.resolve(spec.cwd, { follow: true, resource: spec.id }) : undefined;
  if (!spec.writesPidfile) await spec.fs.remove(spec.pidfile, { resource: spec.id });
  // The pidfile's directory exists before the daemon starts (what systemd's RuntimeDirectory does).
  await spec.fs.mkdirp(path.posix.dirname(spec.pidfile), 0o755, { resource: spec.id });
  let out: Awaited<ReturnType<typeof open>> | undefined;
  if (spec.logFile) {
    await spec.fs.mkdirp(path.posix.dirname(spec.logFile), 0o755, { resource: spec.id });
    const st = await spec.fs.lstat(spec.logFile, { resource: spec.id });
    if (st?.isSymbolicLink())
      throw new TsconvergeError('FILE_IS_SYMLINK', `log file ${spec.logFile} is a symlink; it is not followed`, {
        resource: spec.id,
        terminal: true,
        hint: 'point logFile at a plain file under the root',
      });
    out = await open(
      await spec.fs.resolve(spec.logFile, { resource: spec.id }),
      fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW,
      0o640,
    );
  }
  // The daemon gets a clean environment: PATH, LANG/LC_ALL=C and its declared env only.
  const child = spec.exec.spawn(spec.start[0]!, spec.start.slice(1), {
    detached: true,
    stdio: ['ignore', out?.fd ?? 'ignore', out?.fd ?? 'ignore'],
    cwd,
    env: spec.env,
  });
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.on('exit', (code, sig) => {
    exited = { code, signal: sig };
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) =>
        reject(
          new TsconvergeError('SERVICE_FAILED', `cannot start ${spec.start[0]}: ${err.message}`, {
            resource: spec.id,
            cause: err,
            terminal: true,
            hint: 'check that the start command exists and is executable',
          }),
        ),
      );
    });
  } finally {
    await out?.close();
  }
  child.unref();
  if (!spec.writesPidfile) await spec.fs.writeAtomic(spec.pidfile, `${child.pid}\n`, { mode: 0o644, resource: spec.id });
  // Let it settle: a command that dies at once (bad flag, port in use) fails the start.
  const started = Date.now();
  const ok = await waitFor(
    async () => {
      if (exited && !(spec.writesPidfile && exited.code === 0)) return true;
      return spec.writesPidfile ? (await readProcess(spec)).running : Date.now() - started >= 300;
    },
    spec.startTimeoutMs,
    signal,
  );
  const state = await readProcess(spec);
  if (!ok || !state.running) {
    const how = exited
      ? exited.signal
        ? `was killed by ${exited.signal}`
        : `exited with code ${exited.code}`
      : spec.writesPidfile
        ? `did not write a live pid to ${spec.pidfile} within ${spec.startTimeoutMs / 1000} s`
        : 'is not running';
    throw new TsconvergeError('SERVICE_FAILED', `${spec.start.join(' ')} ${how}${await logTail(spec)}`, {
      resource: spec.id,
      hint: 'run the start command by hand to see why it stops; declare logFile to keep its output',
    });
  }
  return state;
}

/** Every live descendant of `pid` (children, their children, ...), from /proc. */
export async function descendants(pid: number): Promise<number[]> {
  const parentOf = new Map<number, number>();
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z' && fields[0] !== 'X') parentOf.set(Number(entry), Number(fields[1]));
    } catch {
      /* exited meanwhile */
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const [child, parent] of parentOf)
      if (parent === p) {
        out.push(child);
        walk(child);
      }
  };
  walk(pid);
  return out;
}

/**
 * Stop the service: the stop signal to the main process, then wait until it AND its
 * descendants are gone (a daemon's helpers, like dockerd's containerd, must not
 * outlive it, or the next start finds them half-alive). Whatever is left after the
 * stop timeout gets SIGKILL.
 */
export async function stopProcess(spec: ProcessSpec, signal?: AbortSignal): Promise<ProcessState> {
  const current = await readProcess(spec);
  if (current.running && current.pid !== null) {
    const pid = current.pid;
    // Frozen, the daemon cannot start a helper between the look at its children and the
    // stop signal (a daemon stopped while it is still starting up would leave one behind).
    try {
      process.kill(pid, 'SIGSTOP');
    } catch {
      /* gone already */
    }
    const helpers = new Set(await descendants(pid));
    const gone = async (): Promise<boolean> => {
      if (await isAlive(pid)) {
        // A daemon stopped while it is still starting may spawn helpers meanwhile.
        for (const h of await descendants(pid)) helpers.add(h);
        return false;
      }
      for (const h of helpers) if (await isAlive(h)) return false;
      return true;
    };
    try {
      process.kill(pid, spec.stopSignal);
    } catch {
      /* gone already */
    }
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      /* gone already */
    }
    if (!(await waitFor(gone, spec.stopTimeoutMs, signal))) {
      for (const p of [pid, ...helpers]) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      if (!(await waitFor(gone, 5000, signal))) {
        throw new TsconvergeError(
          'SERVICE_FAILED',
          `process ${pid} (or one of its helpers ${[...helpers].join(', ')}) did not stop after ${spec.stopSignal} and SIGKILL`,
          { resource: spec.id, hint: 'a process may be stuck in the kernel (D state); check it with ps' },
        );
      }
    }
    // Dead is not yet gone: until init reaps them, the zombies still answer kill(pid, 0),
    // and a daemon started next may take its old helper for alive (dockerd does, with the
    // containerd it started). An init that reaps at once makes this immediate.
    await waitFor(async () => [pid, ...helpers].every((p) => !existsSync(`/proc/${p}`)), 5000, signal);
  }
  if (!spec.writesPidfile) await spec.fs.remove(spec.pidfile, { resource: spec.id }).catch(() => undefined);
  return { running: false, pid: null };
}

export async function restartProcess(spec: ProcessSpec, signal?: AbortSignal): Promise<ProcessState> {
  await stopProcess(spec, signal);
  return startProcess(spec, signal);
}

/** Reload with the reload signal; a process that is not running is started. */
export async function reloadProcess(spec: ProcessSpec, signal?: AbortSignal): Promise<ProcessState> {
  const current = await readProcess(spec);
  if (!current.running || current.pid === null) return startProcess(spec, signal);
  process.kill(current.pid, spec.reloadSignal);
  return current;
}
