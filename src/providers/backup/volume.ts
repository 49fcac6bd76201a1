/**
 * backup.volume: a snapshot of every volume younger than `every`, and the retention
 * applied. Reading lists the repository's snapshots without a lock (a plan writes nothing
 * to the repository) and asks restic which snapshots retention would remove (dry run).
 * The views hold the two declared promises under the attributes that make them (`every`
 * and `keep`, both `x-change: update`): `backup due (last 26 h ago)` against `a snapshot
 * younger than 24h`, so a due backup is a pending change like any other; `apply` takes it (ops.ts). A repository that cannot be
 * read (wrong password, unreachable) fails this resource only, and touches no container.
 */
import type Docker from 'dockerode';
import { TsconvergeError, toTsconvergeError, type ErrorCode } from '../../core/errors.js';
import type { Json, Provider, Resource, View } from '../types.js';
import { unsuitable } from '../types.js';
import { dockerUnsuitable } from '../docker/client.js';
import { DEFAULT_EVERY, applyRetention, beyondRetention, repoOf, snapshotsOf, takeBackup, type BackupAttrs, type Ctx } from './ops.js';
import { snapshots, tagValue } from './restic.js';
import { ago, isDue } from './schedule.js';

type R = Resource<BackupAttrs>;

export interface VolumeState {
  readonly volume: string;
  /** The newest snapshot of this host (ISO time), or null. */
  readonly last: string | null;
  readonly count: number;
  readonly bytes?: number;
  readonly seconds?: number;
}

export interface BackupObserved {
  readonly volumes: readonly VolumeState[];
  /** `backup due (last 26 h ago)`, or null when every volume has a fresh snapshot. */
  readonly due: string | null;
  /** Snapshots retention would remove. */
  readonly beyond: number;
  /** The repository could not be read: this resource fails with it (views throws). */
  readonly error?: { readonly code: ErrorCode; readonly message: string; readonly hint?: string };
}

function errorOf(err: unknown, id: string): NonNullable<BackupObserved['error']> {
  const e = toTsconvergeError(err, id);
  return { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) };
}

export const fresh = (a: BackupAttrs): string => `a snapshot younger than ${a.every ?? DEFAULT_EVERY}`;

function keepText(a: BackupAttrs): string {
  return (
    'keep ' +
    Object.entries(a.keep ?? {})
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')
  );
}

/** Why a backup is due, or null. */
export function dueText(a: BackupAttrs, volumes: readonly VolumeState[], now: Date): string | null {
  const every = a.every ?? DEFAULT_EVERY;
  const never = volumes.find((v) => v.last === null);
  if (never) return `backup due (no snapshot of ${never.volume} yet)`;
  const due = volumes.filter((v) => isDue(every, new Date(v.last!), now)).sort((x, y) => x.last!.localeCompare(y.last!));
  if (!due.length) return null;
  return `backup due (last ${ago(now.getTime() - Date.parse(due[0]!.last!))} ago)`;
}

export async function observe(r: R, ctx: Ctx, now = new Date()): Promise<BackupObserved> {
  const repo = await repoOf(r.id, r.attrs, ctx);
  const all = (await snapshots(ctx, repo)) ?? [];
  const volumes = r.attrs.volumes.map((v): VolumeState => {
    const mine = snapshotsOf(all, v, ctx.facts.hostname);
    const newest = mine[mine.length - 1];
    const bytes = newest && tagValue(newest, 'bytes');
    const seconds = newest && tagValue(newest, 'seconds');
    return {
      volume: v,
      last: newest?.time ?? null,
      count: mine.length,
      ...(bytes ? { bytes: Number(bytes) } : {}),
      ...(seconds ? { seconds: Number(seconds) } : {}),
    };
  });
  let beyond = 0;
  if (r.attrs.keep) for (const v of volumes) if (v.count > 0) beyond += await beyondRetention(ctx, repo, v.volume, r.attrs.keep);
  return { volumes, due: dueText(r.attrs, volumes, now), beyond };
}

/** Per volume, for reports, metrics and the dashboard: last success, its size and duration, the count, overdue. */
export function backupDetails(a: BackupAttrs, o: BackupObserved, now: Date): Json[] {
  const every = a.every ?? DEFAULT_EVERY;
  return o.volumes.map((v) => ({
    volume: v.volume,
    every,
    lastSuccess: v.last,
    snapshots: v.count,
    ...(v.bytes !== undefined ? { sizeBytes: v.bytes } : {}),
    ...(v.seconds !== undefined ? { durationSeconds: v.seconds } : {}),
    overdue: v.last === null || isDue(every, new Date(v.last), now),
  }));
}

function desired(a: BackupAttrs): View {
  const v: Record<string, Json> = { every: fresh(a) };
  if (a.keep) v.keep = keepText(a);
  return v;
}

function actual(a: BackupAttrs, o: BackupObserved): View {
  const v: Record<string, Json> = { every: o.due ?? fresh(a) };
  if (a.keep) v.keep = o.beyond > 0 ? `${o.beyond} snapshot${o.beyond === 1 ? '' : 's'} beyond ${keepText(a)}` : keepText(a);
  return v;
}

export function createBackupVolumeProvider(docker: Docker): Provider<BackupAttrs, BackupObserved> {
  return {
    kind: 'backup.volume',
    async suitable(ctx) {
      try {
        const r = await ctx.exec.run('restic', ['version'], { timeoutMs: 10_000 });
        if (r.code !== 0) return unsuitable(`restic version exited ${r.code}`);
      } catch {
        return unsuitable('restic is not installed (Debian package restic; scripts/setup.sh installs it)', 'BINARY_NOT_FOUND');
      }
      return dockerUnsuitable(docker);
    },
    async readMany(resources, ctx) {
      const out = new Map<string, BackupObserved | null>();
      for (const r of resources) {
        try {
          out.set(r.id, await observe(r, ctx));
        } catch (err) {
          // One repository that cannot be read fails its own resource, not the kind.
          out.set(r.id, { volumes: [], due: null, beyond: 0, error: errorOf(err, r.id) });
        }
      }
      return out;
    },
    views(r, o) {
      if (o?.error)
        throw new TsconvergeError(o.error.code, o.error.message, { resource: r.id, ...(o.error.hint ? { hint: o.error.hint } : {}), terminal: true });
      return { desired: desired(r.attrs), actual: o ? actual(r.attrs, o) : null };
    },
    details(r, o) {
      if (!o || o.error) return undefined;
      return { backups: backupDetails(r.attrs, o, new Date()) };
    },
    // Never absent: a backup resource is always "present" (its snapshots stay when it is removed from the catalogue).
    wantsAbsent: () => false,
    async apply(r, _plan, observed, ctx) {
      const now = new Date();
      const every = r.attrs.every ?? DEFAULT_EVERY;
      const states = observed?.volumes.length ? observed.volumes : r.attrs.volumes.map((v) => ({ volume: v, last: null, count: 0 }));
      const due = states.filter((v) => v.last === null || isDue(every, new Date(v.last), now)).map((v) => v.volume);
      if (due.length) await takeBackup(docker, r.id, r.attrs, due, ctx);
      else await applyRetention(r.id, r.attrs, r.attrs.volumes, ctx);
      return observe(r, ctx);
    },
  };
}
