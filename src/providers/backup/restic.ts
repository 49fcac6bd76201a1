/**
 * restic, run through `ctx.exec`: the repository password goes to restic on its stdin (a
 * pipe; restic reads it from there when stdin is not a terminal), never in argv, never in
 * the child's environment, and everything restic prints is masked of it (core/redact.ts).
 * Reads use `--no-lock`, so a plan writes nothing to the repository, not even a lock file.
 * Locks: before a write, `restic unlock` removes stale locks only (this host's runs whose
 * process is gone, or locks nobody refreshed for 30 minutes); a live lock of another run
 * is waited for up to `lockWait`, then reported with who holds it.
 */
import { TsconvergeError } from '../../core/errors.js';
import { redact, registerSecret } from '../../core/redact.js';
import type { ProviderContext } from '../types.js';

export const RESTIC = 'restic';
export const VOLUME_TAG = 'tsconverge-volume=';

export interface Repo {
  readonly repository: string;
  readonly password: string;
  readonly sshCommand?: readonly string[];
  /** The resource the errors name. */
  readonly resource: string;
}

export interface Snapshot {
  readonly id: string;
  readonly short_id: string;
  readonly time: string;
  readonly hostname: string;
  readonly paths: readonly string[];
  readonly tags?: readonly string[] | null;
}

export interface ResticRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

type Ctx = Pick<ProviderContext, 'exec' | 'signal'>;

/** The global arguments: repository, no cache (no HOME needed), the sftp command. */
function globalArgs(repo: Repo): string[] {
  const args = ['-r', repo.repository, '--no-cache'];
  if (repo.sshCommand?.length) args.push('-o', `sftp.command=${repo.sshCommand.map((a) => (/[\s'"]/.test(a) ? `'${a}'` : a)).join(' ')}`);
  return args;
}

/** One restic command, the password on stdin. Never rejects on a non-zero exit; aborting `signal` interrupts restic (SIGINT: it removes its lock). */
export function restic(
  ctx: Ctx,
  repo: Repo,
  args: readonly string[],
  opts: { cwd?: string; signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<ResticRun> {
  registerSecret(repo.password);
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = ctx.exec.spawn(RESTIC, [...globalArgs(repo), ...args], { stdio: ['pipe', 'pipe', 'pipe'], cwd: opts.cwd });
    } catch (err) {
      reject(
        new TsconvergeError('BINARY_NOT_FOUND', `cannot run restic: ${String(err)}`, {
          resource: repo.resource,
          hint: 'install restic (scripts/setup.sh does)',
        }),
      );
      return;
    }
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdin!.on('error', () => {
      /* restic may exit before reading it */
    });
    child.stdin!.end(repo.password + '\n');
    const signal = opts.signal ?? ctx.signal;
    const stop = (): void => {
      child.kill('SIGINT');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    };
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
    const timer = opts.timeoutMs ? setTimeout(stop, opts.timeoutMs) : undefined;
    child.on('error', (err: NodeJS.ErrnoException) => {
      signal.removeEventListener('abort', stop);
      if (timer) clearTimeout(timer);
      reject(
        new TsconvergeError('BINARY_NOT_FOUND', `cannot run restic: ${redact(err.message)}`, {
          resource: repo.resource,
          hint: 'install restic (Debian package restic; scripts/setup.sh installs it)',
        }),
      );
    });
    child.on('close', (code, sig) => {
      signal.removeEventListener('abort', stop);
      if (timer) clearTimeout(timer);
      const quiet = (t: string): string => t.replace(/^reading repository password from stdin\n/gm, '');
      resolve({ code: code ?? (sig ? 128 : 1), stdout: redact(quiet(stdout)), stderr: redact(quiet(stderr)) });
    });
  });
}

/** What a failed restic run means. */
export type Failure = 'missing' | 'password' | 'locked' | 'unreachable' | 'other';

export function classify(r: ResticRun): Failure {
  const e = r.stderr;
  if (/wrong password or no key found/.test(e)) return 'password';
  if (/already locked|unable to create lock/.test(e)) return 'locked';
  if (
    /ssh|connection|dial|unable to start the sftp session|Connection refused|Could not resolve|network is unreachable|no route to host/i.test(e) &&
    !/Is there a repository/.test(e)
  )
    return 'unreachable';
  if (/Is there a repository at the following location|unable to open config file|config: no such file|file does not exist/.test(e)) return 'missing';
  return 'other';
}

/** The last meaningful line of restic's stderr, for an error message. */
export function lastLines(r: ResticRun, n = 3): string {
  return (
    r.stderr
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/^reading repository password/.test(l))
      .slice(-n)
      .join(' | ') || `exit ${r.code}`
  );
}

/** Who holds the lock, from restic's words: "is already locked by PID 12 on nas by root (...), lock was created at ...". */
function lockHolder(r: ResticRun): string {
  const by = /already locked (by .*?)(?: \(UID.*)?$/m.exec(r.stderr)?.[1];
  const at = /lock was created at (.*)$/m.exec(r.stderr)?.[1];
  return by ? `is locked ${by}${at ? `, since ${at}` : ''}` : `is locked by another run: ${lastLines(r, 3)}`;
}

/** A failed restic run as the error the operator reads. */
export function resticError(repo: Repo, doing: string, r: ResticRun): TsconvergeError {
  const kind = classify(r);
  const where = `repository ${repo.repository}`;
  switch (kind) {
    case 'password':
      return new TsconvergeError('BACKUP_REPOSITORY', `${doing}: wrong password for ${where}`, {
        resource: repo.resource,
        terminal: true,
        hint: "check the backup's password or passwordFile; nothing was written and no container was touched",
      });
    case 'unreachable':
      return new TsconvergeError('BACKUP_REPOSITORY', `${doing}: ${where} is unreachable: ${lastLines(r, 2)}`, {
        resource: repo.resource,
        hint: 'check the host, the SSH key and sshCommand; the next run tries again',
      });
    case 'missing':
      return new TsconvergeError('BACKUP_REPOSITORY', `${doing}: no restic repository at ${repo.repository}`, {
        resource: repo.resource,
        terminal: true,
        hint: 'the first backup (tsconverge apply, or tsconverge backup run) creates it',
      });
    case 'locked':
      return new TsconvergeError('BACKUP_LOCKED', `${doing}: ${where} ${lockHolder(r)}`, {
        resource: repo.resource,
        hint: 'another host or run is using the repository; the next run tries again (raise lockWait to wait longer)',
      });
    default:
      return new TsconvergeError('BACKUP_FAILED', `${doing}: restic exited ${r.code}: ${lastLines(r)}`, { resource: repo.resource });
  }
}

/** Every snapshot of the repository (no lock); null when there is no repository yet. */
export async function snapshots(ctx: Ctx, repo: Repo): Promise<Snapshot[] | null> {
  const r = await restic(ctx, repo, ['--no-lock', 'snapshots', '--json'], { timeoutMs: 120_000 });
  if (r.code !== 0) {
    if (classify(r) === 'missing') return null;
    throw resticError(repo, 'reading snapshots', r);
  }
  return JSON.parse(r.stdout || '[]') as Snapshot[];
}

/** The volume a snapshot is of (its tag), or undefined. */
export function volumeOf(s: Snapshot): string | undefined {
  return s.tags?.find((t) => t.startsWith(VOLUME_TAG))?.slice(VOLUME_TAG.length);
}

/** A tag value `tsconverge-NAME=VALUE` of a snapshot. */
export function tagValue(s: Snapshot, name: string): string | undefined {
  return s.tags?.find((t) => t.startsWith(`tsconverge-${name}=`))?.slice(`tsconverge-${name}=`.length);
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

/**
 * A command that takes a lock: stale locks are removed first (`restic unlock` removes only
 * those); a live lock is waited for until `waitMs`, then BACKUP_LOCKED names its holder.
 */
export async function locked(
  ctx: Ctx,
  repo: Repo,
  args: readonly string[],
  doing: string,
  opts: { cwd?: string; waitMs: number; signal?: AbortSignal },
): Promise<ResticRun> {
  const signal = opts.signal ?? ctx.signal;
  const deadline = Date.now() + opts.waitMs;
  for (;;) {
    const u = await restic(ctx, repo, ['unlock'], { signal, timeoutMs: 120_000 });
    if (u.code !== 0) throw resticError(repo, doing, u);
    const r = await restic(ctx, repo, args, { cwd: opts.cwd, signal });
    if (r.code === 0) return r;
    if (classify(r) !== 'locked' || Date.now() >= deadline || signal.aborted) {
      if (signal.aborted)
        throw new TsconvergeError('INTERRUPTED', `${doing}: interrupted`, {
          resource: repo.resource,
          hint: 'the containers were started again; the next run takes the backup',
        });
      throw resticError(repo, doing, r);
    }
    await sleep(Math.min(2_000, Math.max(0, deadline - Date.now())), signal);
  }
}

/**
 * Repositories being opened or created by this process: two backup.volume resources on one
 * repository apply at once, and two `restic init` on one empty repository would each write
 * a key, leaving a config the other's key cannot read. One at a time per repository.
 */
const opening = new Map<string, Promise<void>>();

/** Create the repository when there is none (`restic init`). */
export function ensureRepository(ctx: Ctx, repo: Repo): Promise<void> {
  const before = opening.get(repo.repository) ?? Promise.resolve();
  const mine = before
    .catch(() => undefined)
    .then(async () => {
      const c = await restic(ctx, repo, ['--no-lock', 'cat', 'config'], { timeoutMs: 120_000 });
      if (c.code === 0) return;
      if (classify(c) !== 'missing') throw resticError(repo, 'opening the repository', c);
      const i = await restic(ctx, repo, ['init'], { timeoutMs: 120_000 });
      // Another process created it in between: fine when this password opens it.
      if (i.code !== 0 && /already exists|already initialized/.test(i.stderr)) {
        const again = await restic(ctx, repo, ['--no-lock', 'cat', 'config'], { timeoutMs: 120_000 });
        if (again.code === 0) return;
        throw resticError(repo, 'opening the repository', again);
      }
      if (i.code !== 0) throw resticError(repo, 'creating the repository', i);
    });
  opening.set(repo.repository, mine);
  return mine;
}

/** Parse a duration `30s`, `5m`, `24h`, `7d` into milliseconds. */
export function durationMs(s: string): number {
  const m = /^(\d+)([smhd])$/.exec(s);
  if (!m)
    throw new TsconvergeError('INVALID_VALUE', `not a duration: ${JSON.stringify(s)}`, { terminal: true, hint: 'write a number and a unit: 30s, 5m, 24h, 7d' });
  return Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
}
