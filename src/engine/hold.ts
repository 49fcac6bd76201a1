/**
 * Stateful resources are not replaced on a whim. A resource declared `stateful: true`
 * (a database) is replaced only with `--allow-replace`, or, when the difference is
 * drift (made outside tsconverge), when its manifest says `onDrift: fix`. Otherwise
 * the replace is held: reported, not applied, and the old one keeps running; what
 * depends on it still converges. So a run every 30 minutes never restarts a database
 * because someone edited a label by hand.
 */
import type { Provider, Resource, ResourcePlan } from '../providers/types.js';
import { TsconvergeError } from '../core/errors.js';

export const HELD = 'REPLACE_HELD';

/** `drift`: paths of the plan's changes that are drift (engine/applied-hashes.ts driftPaths). */
export function holdReplace(r: Resource, plan: ResourcePlan, drift: readonly string[], allowReplace: boolean | undefined): TsconvergeError | undefined {
  const a = r.attrs as { stateful?: boolean; onDrift?: 'fix' | 'warn' };
  if (plan.action !== 'replace' || a.stateful !== true || allowReplace) return undefined;
  const forcing = plan.changes.filter((c) => c.effect === 'replace').map((c) => c.path);
  const onlyDrift = forcing.length > 0 && forcing.every((p) => drift.includes(p));
  if (onlyDrift && a.onDrift === 'fix') return undefined;
  const why = onlyDrift ? `repairs drift: ${forcing.map((p) => p.slice(1).replace(/\//g, ' ')).join(', ')}` : `forced by ${plan.forcedBy.join(', ')}`;
  return new TsconvergeError(HELD, `held: stateful, so this replace (${why}) needs --allow-replace; it keeps running unchanged`, {
    resource: r.id,
    terminal: true,
    hint: onlyDrift
      ? `run apply --allow-replace when a restart is acceptable, or declare onDrift: fix to let drift be repaired${a.onDrift === 'warn' ? ' (onDrift: warn only reports it)' : ''}`
      : 'run apply --allow-replace when a restart is acceptable (see the consequences in the plan)',
  });
}

/**
 * The one judgement plan and apply make of a planned change before it is applied: held
 * (stateful, above: reported, not applied, does not block its dependents) or refused by
 * its provider (Provider.refuse: apply would refuse it, so its dependents are skipped).
 * A plan computed with this is what apply then does.
 */
export function judgeChange(
  provider: Provider | undefined,
  r: Resource,
  plan: ResourcePlan,
  drift: readonly string[],
  allowReplace: boolean | undefined,
): { readonly held: TsconvergeError } | { readonly refused: TsconvergeError } | undefined {
  const held = holdReplace(r, plan, drift, allowReplace);
  if (held) return { held };
  const refused = plan.action === 'none' ? undefined : provider?.refuse?.(r as never, plan);
  return refused ? { refused } : undefined;
}
