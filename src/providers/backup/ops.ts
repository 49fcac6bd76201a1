/**
 * What backup.volume does, shared by its provider (apply) and the `tsconverge backup`
 * commands: take a backup of volumes (hooks, quiesce, restic backup, containers always
 * started again), apply retention, restore a snapshot into a new volume or in place, and
 * the restore drill. restic reads the volume's mount point on the host (the snapshot holds
 * the volume's tree relative to its root) and restores straight into a volume's mount point.
 */
import type Docker from 'dockerode';
import type { ChildProcess } from 'node:child_process';
import { isSea } from 'node:sea';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { TsconvergeError } from '../../core/errors.js';
import { redact, registerSecret } from '../../core/redact.js';
import type { BackupVolume } from '../../generated/kinds.js';
import type { ProviderContext } from '../types.js';
import { ownerLabels } from '../docker/ownership.js';
import { VOLUME_TAG, durationMs, ensureRepository, locked, restic, resticError, snapshots, tagValue, volumeOf, type Repo, type Snapshot } from './restic.js';

export type BackupAttrs = Omit<BackupVolume, 'kind' | 'name' | 'require' | 'before' | 'notify' | 'subscribe'>;
export type Ctx = Pick<ProviderContext, 'exec' | 'fs' | 'signal' | 'log' | 'facts'>;

export const DEFAULT_EVERY = '24h';
export const DEFAULT_LOCK_WAIT = '2m';

/** The repository of a backup resource, with its password (from `password` or the 0600 `passwordFile`). */
export async function repoOf(id: string, a: BackupAttrs, ctx: Pick<ProviderContext, 'fs'>): Promise<Repo> {
  let password = a.password;
  if (password === undefined && a.passwordFile !== undefined) {
    const st = await ctx.fs.stat(a.passwordFile, { resource: id });
    if (!st)
      throw new TsconvergeError('BACKUP_REPOSITORY', `passwordFile ${a.passwordFile} does not exist`, {
        resource: id,
        terminal: true,
        hint: `write the repository password into it: install -m 0600 /dev/stdin ${a.passwordFile}`,
      });
    if ((st.mode & 0o077) !== 0) {
      throw new TsconvergeError(
        'BACKUP_REPOSITORY',
        `passwordFile ${a.passwordFile} has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}; it must be readable by its owner only`,
        { resource: id, terminal: true, hint: `chmod 0600 ${a.passwordFile}` },
      );
    }
    password = ((await ctx.fs.readText(a.passwordFile, { resource: id })) ?? '').replace(/\r?\n$/, '');
  }
  if (!password)
    throw new TsconvergeError('BACKUP_REPOSITORY', 'no repository password: set password (a secret) or passwordFile', {
      resource: id,
      terminal: true,
      hint: 'passwordFile: /etc/tsconverge/secrets/backup (mode 0600), or password: !secret NAME in a fleet tree',
    });
  registerSecret(password);
  return { repository: a.repository, password, resource: id, ...(a.sshCommand ? { sshCommand: a.sshCommand } : {}) };
}

const volumeTag = (v: string): string => `${VOLUME_TAG}${v}`;

/** This host's snapshots of `volume`, oldest first. */
export function snapshotsOf(all: readonly Snapshot[], volume: string, host: string): Snapshot[] {
  return all.filter((s) => volumeOf(s) === volume && s.hostname === host).sort((a, b) => a.time.localeCompare(b.time));
}

export function keepArgs(keep: BackupAttrs['keep']): string[] {
  const out: string[] = [];
  for (const k of ['last', 'hourly', 'daily', 'weekly', 'monthly'] as const) if (keep?.[k] !== undefined) out.push(`--keep-${k}`, String(keep[k]));
  return out;
}

/** How many of this host's snapshots of `volume` retention would remove (restic forget --dry-run, no lock: nothing is written). */
export async function beyondRetention(ctx: Ctx, repo: Repo, volume: string, keep: BackupAttrs['keep']): Promise<number> {
  const r = await restic(
    ctx,
    repo,
    ['--no-lock', 'forget', '--dry-run', '--json', '--host', ctx.facts.hostname, '--tag', volumeTag(volume), '--group-by', 'host', ...keepArgs(keep)],
    { timeoutMs: 120_000 },
  );
  if (r.code !== 0) throw resticError(repo, `reading the retention of ${volume}`, r);
  const groups = JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('[')) ?? '[]') as { remove?: unknown[] | null }[];
  return groups.reduce((n, g) => n + (g.remove?.length ?? 0), 0);
}

// ---------------------------------------------------------------------------
// Containers: who uses a volume, quiesce and always undo, hooks.

interface ContainerInfo {
  readonly Id: string;
  readonly Names: readonly string[];
  readonly State: string;
  readonly Labels?: Record<string, string> | null;
}

export async function usersOf(docker: Docker, volume: string): Promise<ContainerInfo[]> {
  return (await docker.listContainers({ all: true, filters: JSON.stringify({ volume: [volume] }) })) as unknown as ContainerInfo[];
}

const cname = (c: ContainerInfo): string => (c.Names[0] ?? c.Id).replace(/^\//, '');

/**
 * Pause or stop the running containers that use `volumes`; returns the undo, which starts
 * (unpauses) every one of them again and never throws before it tried them all.
 */
export async function quiesce(docker: Docker, volumes: readonly string[], mode: 'none' | 'pause' | 'stop', ctx: Ctx, id: string): Promise<() => Promise<void>> {
  const touched: { id: string; name: string; how: 'pause' | 'stop' }[] = [];
  let guard: ChildProcess | undefined;
  const undo = async (): Promise<void> => {
    const errors: string[] = [];
    guard?.stdin?.end('done\n');
    for (const t of touched.reverse()) {
      try {
        if (t.how === 'pause') await docker.getContainer(t.id).unpause();
        else await docker.getContainer(t.id).start();
        ctx.log.info(`${id}: ${t.how === 'pause' ? 'unpaused' : 'started'} container ${t.name} again`);
      } catch (err) {
        if (!/already|not paused|is not paused/i.test(String(err))) errors.push(`${t.name}: ${String(err)}`);
      }
    }
    if (errors.length)
      throw new TsconvergeError('BACKUP_FAILED', `could not start containers again: ${errors.join('; ')}`, {
        resource: id,
        hint: 'start them by hand (docker start / docker unpause)',
      });
  };
  if (mode === 'none') return undo;
  const seen = new Set<string>();
  try {
    for (const v of volumes) {
      for (const c of await usersOf(docker, v)) {
        if (seen.has(c.Id) || c.State !== 'running') continue;
        seen.add(c.Id);
        touched.push({ id: c.Id, name: cname(c), how: mode });
        guard?.stdin?.end('done\n');
        guard = startGuard(ctx, touched);
        if (mode === 'pause') await docker.getContainer(c.Id).pause();
        else await docker.getContainer(c.Id).stop();
        ctx.log.info(`${id}: ${mode === 'pause' ? 'paused' : 'stopped'} container ${cname(c)} for the backup`);
      }
    }
  } catch (err) {
    await undo().catch(() => undefined);
    throw new TsconvergeError('BACKUP_FAILED', `could not ${mode} the containers of ${volumes.join(', ')}: ${String(err)}`, { resource: id });
  }
  return undo;
}

/**
 * The guard of a quiesce: a detached `sh` that waits on a pipe from this process and, unless
 * it reads `done` (the undo ran), runs `tsconverge backup resume` for the containers paused
 * or stopped so far. So a run killed outright (SIGKILL, OOM) still starts them again, at once.
 * Each container touched replaces the guard with one that knows it too (the old one is told
 * `done`).
 */
function startGuard(ctx: Ctx, touched: readonly { id: string; how: 'pause' | 'stop' }[]): ChildProcess | undefined {
  const self = isSea() ? [process.execPath] : [process.execPath, ...process.execArgv, process.argv[1]!];
  try {
    const env: Record<string, string> = process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {};
    const child = ctx.exec.spawn(
      'sh',
      ['-c', 'read line; [ "$line" = done ] || exec "$@" >/dev/null 2>&1', 'sh', ...self, 'backup', 'resume', ...touched.map((t) => `${t.how}:${t.id}`)],
      { stdio: ['pipe', 'ignore', 'ignore'], detached: true, env },
    );
    child.on('error', () => undefined);
    child.stdin?.on('error', () => undefined);
    child.unref();
    return child;
  } catch {
    return undefined;
  }
}

/** Run `cmd` in a running container (docker exec); throws on a non-zero exit with its output. */
export async function execIn(docker: Docker, container: string, cmd: readonly string[], id: string, what: string): Promise<void> {
  let out = '';
  let code: number | null = null;
  try {
    const ex = await docker.getContainer(container).exec({ Cmd: [...cmd], AttachStdout: true, AttachStderr: true });
    const stream = await ex.start({ hijack: true, stdin: false });
    const sink = new PassThrough();
    sink.on('data', (d: Buffer) => {
      if (out.length < 4000) out += d.toString();
    });
    docker.modem.demuxStream(stream, sink, sink);
    await new Promise<void>((resolve, reject) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', reject);
    });
    code = (await ex.inspect()).ExitCode;
  } catch (err) {
    throw new TsconvergeError('BACKUP_FAILED', `${what} hook in container ${container} could not run: ${String(err)}`, {
      resource: id,
      hint: 'the hook container must exist and be running',
    });
  }
  if (code !== 0)
    throw new TsconvergeError(
      'BACKUP_FAILED',
      `${what} hook in container ${container} exited ${code}: ${redact(out.trim().split('\n').slice(-3).join(' | '))}`,
      { resource: id },
    );
}

/** A volume's mount point on the host (where restic reads and writes it). */
export async function mountpoint(docker: Docker, volume: string, id: string): Promise<string> {
  try {
    const v = (await docker.getVolume(volume).inspect()) as unknown as { Mountpoint: string };
    return v.Mountpoint;
  } catch (err) {
    throw new TsconvergeError('BACKUP_FAILED', `volume ${volume} cannot be read: ${String(err)}`, {
      resource: id,
      hint: 'declare the docker.volume (and require it), or fix the volume name',
    });
  }
}

// ---------------------------------------------------------------------------
// Taking a backup.

export interface Taken {
  readonly volume: string;
  readonly snapshot: string;
  readonly bytes: number;
  readonly seconds: number;
}

/**
 * Back up `volumes` now: the before hook, quiesce, one restic snapshot per volume (tagged
 * with the volume, its size and duration), containers started again and the after hook
 * (both also on failure and interrupt), then retention and the optional check.
 */
export async function takeBackup(docker: Docker, id: string, a: BackupAttrs, volumes: readonly string[], ctx: Ctx): Promise<Taken[]> {
  const repo = await repoOf(id, a, ctx);
  const waitMs = durationMs(a.lockWait ?? DEFAULT_LOCK_WAIT);
  const points = new Map<string, string>();
  for (const v of volumes) points.set(v, await mountpoint(docker, v, id));
  await ensureRepository(ctx, repo);
  const taken: Taken[] = [];
  let failure: unknown;
  const hooks = a.hooks;
  try {
    if (hooks?.before) await execIn(docker, hooks.container, hooks.before, id, 'before');
    const undo = await quiesce(docker, volumes, a.quiesce ?? 'none', ctx, id);
    try {
      for (const v of volumes) {
        const started = Date.now();
        const r = await locked(ctx, repo, ['backup', '--json', '--quiet', '--host', ctx.facts.hostname, '--tag', volumeTag(v), '.'], `backing up ${v}`, {
          cwd: points.get(v)!,
          waitMs,
        });
        const summary = r.stdout
          .split('\n')
          .filter((l) => l.includes('"summary"'))
          .map((l) => JSON.parse(l) as { snapshot_id: string; total_bytes_processed: number })
          .pop();
        if (!summary) throw new TsconvergeError('BACKUP_FAILED', `backing up ${v}: restic printed no summary`, { resource: id });
        taken.push({ volume: v, snapshot: summary.snapshot_id, bytes: summary.total_bytes_processed, seconds: (Date.now() - started) / 1000 });
      }
    } finally {
      await undo();
    }
  } catch (err) {
    failure = err;
  } finally {
    if (hooks?.after) {
      try {
        await execIn(docker, hooks.container, hooks.after, id, 'after');
      } catch (err) {
        failure ??= err;
      }
    }
  }
  if (failure) throw failure;
  // Size and duration ride on the snapshot as tags, so every later read (reports, metrics, list) knows them.
  // Best effort: tagging needs the exclusive lock (another backup of this run or another host may
  // hold the shared one a while: waited for, up to a minute); the snapshot is taken either way.
  for (const t of taken) {
    try {
      await locked(ctx, repo, ['tag', '--add', `tsconverge-bytes=${t.bytes},tsconverge-seconds=${t.seconds.toFixed(1)}`, t.snapshot], `tagging ${t.volume}`, {
        waitMs: Math.min(waitMs, 60_000),
      });
    } catch (err) {
      ctx.log.warn(
        `${id}: snapshot ${t.snapshot} of ${t.volume} taken, but its size and duration were not recorded: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }
  await applyRetention(id, a, volumes, ctx, repo);
  return taken;
}

/** restic forget --prune of this host's snapshots of each volume beyond `keep`; restic check when verify is set. */
export async function applyRetention(id: string, a: BackupAttrs, volumes: readonly string[], ctx: Ctx, repo?: Repo): Promise<void> {
  const rp = repo ?? (await repoOf(id, a, ctx));
  const waitMs = durationMs(a.lockWait ?? DEFAULT_LOCK_WAIT);
  if (a.keep) {
    for (const v of volumes)
      await locked(
        ctx,
        rp,
        ['forget', '--prune', '--host', ctx.facts.hostname, '--tag', volumeTag(v), '--group-by', 'host', ...keepArgs(a.keep)],
        `applying retention to ${v}`,
        { waitMs },
      );
  }
  if (a.verify) await locked(ctx, rp, ['check'], 'checking the repository', { waitMs });
}

// ---------------------------------------------------------------------------
// Listing, restoring, the drill.

export interface Listed {
  readonly id: string;
  readonly time: string;
  readonly host: string;
  readonly volume: string;
  readonly bytes?: number;
  readonly seconds?: number;
}

export function listed(s: Snapshot): Listed {
  const bytes = tagValue(s, 'bytes');
  const seconds = tagValue(s, 'seconds');
  return {
    id: s.short_id,
    time: s.time,
    host: s.hostname,
    volume: volumeOf(s) ?? '',
    ...(bytes ? { bytes: Number(bytes) } : {}),
    ...(seconds ? { seconds: Number(seconds) } : {}),
  };
}

export async function listSnapshots(id: string, a: BackupAttrs, ctx: Ctx): Promise<Listed[]> {
  const repo = await repoOf(id, a, ctx);
  const all = (await snapshots(ctx, repo)) ?? [];
  return all
    .filter((s) => volumeOf(s) !== undefined && a.volumes.includes(volumeOf(s)!))
    .sort((x, y) => x.time.localeCompare(y.time))
    .map(listed);
}

async function findSnapshot(ctx: Ctx, repo: Repo, volume: string, snapshot: string, id: string): Promise<Snapshot> {
  const all = (await snapshots(ctx, repo)) ?? [];
  if (snapshot === 'latest') {
    const newest = snapshotsOf(all, volume, ctx.facts.hostname).pop();
    if (!newest)
      throw new TsconvergeError('RESTORE_REFUSED', `no snapshot of ${volume} from this host in ${repo.repository}`, {
        resource: id,
        terminal: true,
        hint: `tsconverge backup list ${volume}`,
      });
    return newest;
  }
  const s = all.find((x) => x.id === snapshot || x.short_id === snapshot || (snapshot.length >= 4 && x.id.startsWith(snapshot)));
  if (!s)
    throw new TsconvergeError('RESTORE_REFUSED', `no snapshot ${snapshot} in ${repo.repository}`, {
      resource: id,
      terminal: true,
      hint: `tsconverge backup list ${volume}`,
    });
  if (volumeOf(s) !== volume)
    throw new TsconvergeError('RESTORE_REFUSED', `snapshot ${snapshot} is of volume ${volumeOf(s) ?? '(none)'}, not ${volume}`, {
      resource: id,
      terminal: true,
      hint: `tsconverge backup list ${volume}`,
    });
  return s;
}

async function volumeExists(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getVolume(name).inspect();
    return true;
  } catch {
    return false;
  }
}

/** Restore `snapshot` of `volume` into a new volume `into` (created here; an existing one is refused). */
export async function restoreInto(
  docker: Docker,
  id: string,
  a: BackupAttrs,
  volume: string,
  snapshot: string,
  into: string,
  ctx: Ctx,
  opts: { labels?: Record<string, string>; verify?: boolean } = {},
): Promise<Snapshot> {
  const repo = await repoOf(id, a, ctx);
  const s = await findSnapshot(ctx, repo, volume, snapshot, id);
  if (await volumeExists(docker, into))
    throw new TsconvergeError('RESTORE_REFUSED', `volume ${into} already exists`, {
      resource: id,
      terminal: true,
      hint: 'name a new volume with --into, or restore in place (without --into)',
    });
  await docker.createVolume({ Name: into, Labels: { ...(opts.labels ?? {}), ...ownerLabels(`docker.volume[${into}]`) } });
  const mp = await mountpoint(docker, into, id);
  const r = await locked(ctx, repo, ['restore', s.id, '--target', mp, ...(opts.verify ? ['--verify'] : [])], `restoring ${s.short_id} into ${into}`, {
    waitMs: durationMs(a.lockWait ?? DEFAULT_LOCK_WAIT),
  });
  if (r.code !== 0) throw resticError(repo, `restoring ${s.short_id}`, r);
  return s;
}

/**
 * Restore in place: refused when a container outside the catalogue (`managed` says which
 * names are in it) uses the volume; else the snapshot is restored beside the volume's data,
 * its users are stopped, the data swapped for the restored tree, and the users started
 * again (also when the swap fails; a failed restore leaves the volume as it was). A volume that no
 * longer exists is created first, with `labels` (the catalogue's docker.volume labels), so
 * the next apply finds it as declared.
 */
export async function restoreInPlace(
  docker: Docker,
  id: string,
  a: BackupAttrs,
  volume: string,
  snapshot: string,
  ctx: Ctx,
  opts: { managed: (container: string) => boolean; labels?: Record<string, string> },
): Promise<Snapshot> {
  const repo = await repoOf(id, a, ctx);
  const s = await findSnapshot(ctx, repo, volume, snapshot, id);
  if (!(await volumeExists(docker, volume))) {
    await docker.createVolume({ Name: volume, Labels: { ...(opts.labels ?? {}), ...ownerLabels(`docker.volume[${volume}]`) } });
  }
  const users = await usersOf(docker, volume);
  const foreign = users.filter((c) => !opts.managed(cname(c)));
  if (foreign.length) {
    throw new TsconvergeError('RESTORE_REFUSED', `volume ${volume} is used by ${foreign.map(cname).join(', ')}, which the catalogue does not manage`, {
      resource: id,
      terminal: true,
      hint: `stop and remove ${foreign.map(cname).join(', ')} first, or restore into a new volume with --into NEW_VOLUME; nothing was changed`,
    });
  }
  const mp = await mountpoint(docker, volume, id);
  // Restored beside the volume's data first (same file system, while its users still run):
  // a restore that fails leaves the volume as it was; only the swap happens while they are stopped.
  const staging = path.join(path.dirname(mp), `.tsconverge-restore-${process.pid}`);
  const run = async (file: string, args: string[], doing: string): Promise<void> => {
    const e = await ctx.exec.run(file, args, { timeoutMs: 600_000 });
    if (e.code !== 0) throw new TsconvergeError('BACKUP_FAILED', `${doing} (volume ${volume}): ${e.stderr.trim()}`, { resource: id });
  };
  try {
    await run('mkdir', ['-m', '0700', staging], 'making the restore directory');
    const r = await locked(ctx, repo, ['restore', s.id, '--target', staging], `restoring ${s.short_id} of ${volume}`, {
      waitMs: durationMs(a.lockWait ?? DEFAULT_LOCK_WAIT),
    });
    if (r.code !== 0) throw resticError(repo, `restoring ${s.short_id}`, r);
    const undo = await quiesce(docker, [volume], 'stop', ctx, id);
    try {
      await run('find', [mp, '-mindepth', '1', '-delete'], 'emptying the volume');
      await run('find', [staging, '-mindepth', '1', '-maxdepth', '1', '-exec', 'mv', '-t', mp, '{}', '+'], 'moving the restored files in');
    } finally {
      await undo();
    }
  } finally {
    await ctx.exec.run('rm', ['-rf', '--one-file-system', staging], { timeoutMs: 600_000 }).catch(() => undefined);
  }
  return s;
}

interface LsNode {
  readonly struct_type?: string;
  readonly path?: string;
  readonly type?: string;
  readonly size?: number;
  readonly mode?: number;
}

/**
 * The restore drill: the newest snapshot of each volume restored into a scratch volume
 * (restic restore --verify checks every file's content), its tree compared with the
 * snapshot's listing (paths, types, sizes), the scratch volume removed.
 */
export async function drill(docker: Docker, id: string, a: BackupAttrs, ctx: Ctx): Promise<{ volume: string; snapshot: string; files: number }[]> {
  const repo = await repoOf(id, a, ctx);
  const all = (await snapshots(ctx, repo)) ?? [];
  const out: { volume: string; snapshot: string; files: number }[] = [];
  for (const v of a.volumes) {
    const newest = snapshotsOf(all, v, ctx.facts.hostname).pop();
    if (!newest)
      throw new TsconvergeError('BACKUP_FAILED', `no snapshot of ${v} to restore`, {
        resource: id,
        hint: `tsconverge backup run ${id.replace(/^backup\.volume\[|\]$/g, '')}`,
      });
    const scratch = `tsconverge-drill-${v}-${newest.short_id}-${process.pid}`.slice(0, 120);
    try {
      await restoreInto(docker, id, a, v, newest.id, scratch, ctx, { verify: true, labels: { 'io.tsconverge.drill': 'true' } });
      const ls = await restic(ctx, repo, ['--no-lock', 'ls', '--json', newest.id], { timeoutMs: 600_000 });
      if (ls.code !== 0) throw resticError(repo, `listing ${newest.short_id}`, ls);
      const want = ls.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as LsNode)
        .filter((n) => n.struct_type === 'node');
      const mp = await mountpoint(docker, scratch, id);
      const found = await ctx.exec.run('find', [mp, '-mindepth', '1', '-printf', '%P\t%y\t%s\n'], { timeoutMs: 600_000 });
      if (found.code !== 0) throw new TsconvergeError('BACKUP_FAILED', `reading the restored copy: ${found.stderr.trim()}`, { resource: id });
      const got = new Map(
        found.stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => {
            const [p, t, sz] = l.split('\t');
            return ['/' + p!, { t: t!, size: Number(sz) }];
          }),
      );
      const missing: string[] = [];
      for (const n of want) {
        const g = got.get(n.path!);
        const type = n.type === 'dir' ? 'd' : n.type === 'symlink' ? 'l' : 'f';
        if (!g || g.t !== type || (type === 'f' && g.size !== (n.size ?? 0))) missing.push(n.path!);
      }
      if (missing.length || got.size !== want.length) {
        throw new TsconvergeError(
          'BACKUP_FAILED',
          `restore drill of ${v} (${newest.short_id}): the restored copy differs from the snapshot (${missing.slice(0, 5).join(', ') || `${got.size} files restored, ${want.length} in the snapshot`})`,
          { resource: id, hint: 'run restic check --read-data on the repository' },
        );
      }
      out.push({ volume: v, snapshot: newest.short_id, files: want.length });
    } finally {
      if (await volumeExists(docker, scratch))
        await docker
          .getVolume(scratch)
          .remove()
          .catch(() => undefined);
    }
  }
  return out;
}
