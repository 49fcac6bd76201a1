/**
 * Structured values in the plan and report: for a changed list, the elements that left
 * and the ones that came; for a map replaced whole, the keys that left, came or
 * changed. Masked (sensitive) values are never expanded.
 */
import type { AttributeChange, Json, ResourcePlan } from '../providers/types.js';
import { SENSITIVE } from './diff.js';

const key = (v: Json): string => JSON.stringify(v);
const isMap = (v: Json | undefined): v is { readonly [k: string]: Json } => v !== null && v !== undefined && typeof v === 'object' && !Array.isArray(v);

export function delta(c: AttributeChange): Pick<AttributeChange, 'added' | 'removed'> {
  if (c.from === SENSITIVE || c.to === SENSITIVE) return {};
  if (Array.isArray(c.from) && Array.isArray(c.to)) {
    const to = new Set(c.to.map(key));
    const from = new Set(c.from.map(key));
    return { removed: c.from.filter((v) => !to.has(key(v))), added: c.to.filter((v) => !from.has(key(v))) };
  }
  if (isMap(c.from) && isMap(c.to)) {
    const from = c.from;
    const to = c.to;
    const removed = Object.keys(from)
      .filter((k) => !(k in to) || key(from[k]!) !== key(to[k]!))
      .map((k) => ({ [k]: from[k]! }));
    const added = Object.keys(to)
      .filter((k) => !(k in from) || key(from[k]!) !== key(to[k]!))
      .map((k) => ({ [k]: to[k]! }));
    return { removed, added };
  }
  return {};
}

/** The plan with `added`/`removed` on each list or map change. */
export function withDeltas(plan: ResourcePlan): ResourcePlan {
  if (plan.action === 'none' || plan.action === 'create' || plan.action === 'delete') return plan;
  return { ...plan, changes: plan.changes.map((c) => ({ ...c, ...delta(c) })) };
}
