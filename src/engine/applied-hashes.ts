/**
 * The engine's record of what it applied: per resource, a hash of each declared attribute
 * (and map key) as last applied, kept in the state directory (`applied.json`, path from
 * core/state-layout.ts; this module alone reads and writes it), so a plan can
 * word drift as drift: a resource tsconverge applied before that is now absent was
 * "removed outside tsconverge"; an attribute whose declared value has not changed
 * since the last apply but differs on the host was "changed outside tsconverge".
 *
 * Only hashes of declared values are stored, per top-level attribute and per map key;
 * sensitive values are not stored at all (their changes are never worded as drift).
 * Written atomically (temp file and rename) after a run that applied; never under noop.
 */
import { hash as oneShotHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Json, ResourcePlan, View } from '../providers/types.js';
import { writeFileAtomic } from '../core/atomic.js';
import { stateLayout } from '../core/state-layout.js';

/** Resource id -> attribute path (`/environment/FOO`) -> hash of its declared value as last applied. */
export type AppliedHashes = Record<string, Record<string, string>>;

const esc = (k: string): string => k.replace(/~/g, '~0').replace(/\//g, '~1');
// crypto.hash: one call per value, no Hash object (about 1,000 of them in a 50-container run).
const hash = (v: Json): string => oneShotHash('sha256', JSON.stringify(v), 'hex').slice(0, 32);
const isMap = (v: Json): v is { readonly [k: string]: Json } => v !== null && typeof v === 'object' && !Array.isArray(v);

/** path -> hash of the declared view, skipping sensitive pointers. */
export function fingerprint(desired: View, sensitive: readonly string[]): Record<string, string> {
  const masked = (p: string): boolean =>
    sensitive.some((s) => {
      const sp = s.startsWith('/') ? s : '/' + esc(s);
      return p === sp || p.startsWith(sp + '/') || sp.startsWith(p + '/');
    });
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(desired)) {
    const p = '/' + esc(k);
    if (isMap(v))
      for (const [kk, vv] of Object.entries(v)) {
        const pp = `${p}/${esc(kk)}`;
        if (!masked(pp)) out[pp] = hash(vv);
      }
    if (!masked(p)) out[p] = hash(v);
  }
  return out;
}

/** The hashes as last applied; none without a state directory, or when none were recorded or the file is unreadable. */
export async function readAppliedHashes(stateDir: string | undefined): Promise<AppliedHashes> {
  if (!stateDir) return {};
  try {
    return JSON.parse(await readFile(stateLayout(stateDir).appliedHashes, 'utf8')) as AppliedHashes;
  } catch {
    return {};
  }
}

export async function writeAppliedHashes(stateDir: string, hashes: AppliedHashes): Promise<void> {
  await writeFileAtomic(stateLayout(stateDir).appliedHashes, JSON.stringify(hashes, null, 1) + '\n', { mode: 0o644 });
}

/** Attribute label for a change path: `/environment/FOO` -> `environment FOO`. */
const label = (p: string): string =>
  p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join(' ');

/** Paths of the plan's changes whose declared value is unchanged since the last apply: drift. */
export function driftPaths(plan: ResourcePlan, desired: View | undefined, last: Record<string, string> | undefined, sensitive: readonly string[]): string[] {
  if (!last || !desired || (plan.action !== 'update' && plan.action !== 'replace')) return [];
  const now = fingerprint(desired, sensitive);
  return plan.changes.filter((c) => c.path in last && now[c.path] === last[c.path]).map((c) => c.path);
}

/**
 * How the plan's difference came about, when it was not declared: `removed outside
 * tsconverge`, or `changed outside tsconverge: environment FOO, memory`. Undefined
 * when the declaration changed (or nothing was ever applied).
 */
export function describeDrift(
  plan: ResourcePlan,
  desired: View | undefined,
  last: Record<string, string> | undefined,
  sensitive: readonly string[],
): string | undefined {
  if (!last || !desired || plan.action === 'none') return undefined;
  if (plan.action === 'create') return 'removed outside tsconverge';
  const drifted = driftPaths(plan, desired, last, sensitive).map(label);
  return drifted.length > 0 ? `changed outside tsconverge: ${drifted.join(', ')}` : undefined;
}
