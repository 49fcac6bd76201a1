/**
 * `ctx.exec`: the one way a provider starts a process. Children get an explicit,
 * minimal environment (PATH, LANG=C, LC_ALL=C and only the variables the caller names;
 * never tsconverge's own environment, never a TSCONVERGE_SECRET_* variable), no shell
 * (argv is passed as it is), and everything the runner returns (stdout, stderr, error
 * messages) is masked of known secret values (core/redact.ts).
 */
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { TsconvergeError } from './errors.js';
import { redact } from './redact.js';

/**
 * node:child_process on first use: the engine creates a runner for every run, and most runs
 * (a no-change run of containers) start no process; loading it costs 2-3 ms of a one-shot run.
 */
let childProcess: typeof import('node:child_process') | undefined;
const cp = (): typeof import('node:child_process') =>
  (childProcess ??= createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process'));

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface RunResult {
  readonly code: number;
  /** Masked of known secrets. */
  readonly stdout: string;
  /** Masked of known secrets. */
  readonly stderr: string;
}

export interface RunOptions {
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
  /** Extra variables the child needs; TSCONVERGE_SECRET_* names are dropped. */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

export interface ProcessRunner {
  /** The PATH children get (and binaries are looked up on). */
  readonly path: string;
  /** The environment a child gets: PATH, LANG/LC_ALL=C, plus `extra` (secret variables dropped). */
  childEnv(extra?: Readonly<Record<string, string>>): Record<string, string>;
  /** Run to completion; resolves with the exit code (never rejects on non-zero); BINARY_NOT_FOUND when it cannot start. */
  run(file: string, args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Start a long-running child (a daemon) with the clean environment. */
  spawn(file: string, args: readonly string[], opts: Omit<SpawnOptions, 'env' | 'shell'> & { readonly env?: Readonly<Record<string, string>> }): ChildProcess;
}

/** The host's PATH: the only variable of tsconverge's own environment a child inherits. */
export function hostPathVariable(): string {
  return process.env.PATH || DEFAULT_PATH;
}

export function cleanEnv(extra: Readonly<Record<string, string>> = {}, pathVar = hostPathVariable()): Record<string, string> {
  const env: Record<string, string> = { PATH: pathVar, LANG: 'C', LC_ALL: 'C' };
  for (const [k, v] of Object.entries(extra)) {
    if (k.toUpperCase().startsWith('TSCONVERGE_SECRET_')) continue;
    env[k] = v;
  }
  return env;
}

export function createProcessRunner(opts: { path?: string } = {}): ProcessRunner {
  const pathVar = opts.path ?? hostPathVariable();
  return {
    path: pathVar,
    childEnv: (extra) => cleanEnv(extra, pathVar),
    run(file, args, o = {}) {
      return new Promise((resolve, reject) => {
        cp().execFile(
          file,
          [...args],
          {
            signal: o.signal,
            timeout: o.timeoutMs ?? 30_000,
            env: cleanEnv(o.env, pathVar),
            cwd: o.cwd,
            maxBuffer: 8 * 1024 * 1024,
            encoding: 'utf8',
            shell: false,
          },
          (err, stdout, stderr) => {
            if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
              const code = (err as NodeJS.ErrnoException).code;
              if (code === 'ENOENT' || code === 'EACCES') {
                reject(
                  new TsconvergeError('BINARY_NOT_FOUND', `cannot run ${file}: ${redact(err.message)}`, {
                    hint: `install ${path.basename(file)} or point tsconverge to it`,
                  }),
                );
                return;
              }
              reject(new TsconvergeError(code === 'ABORT_ERR' ? 'TIMEOUT' : 'PROVIDER_CRASH', `${path.basename(file)} failed: ${redact(err.message)}`, {}));
              return;
            }
            const exit = err ? ((err as { code?: number }).code ?? 1) : 0;
            resolve({ code: typeof exit === 'number' ? exit : 1, stdout: redact(String(stdout)), stderr: redact(String(stderr)) });
          },
        );
      });
    },
    spawn(file, args, o) {
      const { env, ...rest } = o;
      return cp().spawn(file, [...args], { ...rest, env: cleanEnv(env, pathVar), shell: false });
    },
  };
}
