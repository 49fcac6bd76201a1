/**
 * Diff and plan: compare the normalised desired and actual views with fast-json-patch,
 * group the operations by attribute, and classify the resource's action from the
 * schema's x-change annotations. Sensitive values are masked here, before any plan,
 * log or report can hold them.
 */
import jsonpatch from 'fast-json-patch';
import type { KindSpec } from '../catalogue/schemas.js';
import type { AttributeChange, Json, ResourcePlan, View } from '../providers/types.js';

export const SENSITIVE = '(sensitive)';

function unescape(seg: string): string {
  return seg.replace(/~1/g, '/').replace(/~0/g, '~');
}

function valueAt(view: View | null, segments: readonly string[]): Json | undefined {
  let cur: unknown = view;
  for (const s of segments) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[s];
  }
  return cur as Json | undefined;
}

/** Attribute-level changes between two views. Lists change as a whole; maps change per key. */
export function diffViews(desired: View, actual: View | null, spec: KindSpec | undefined, sensitive: readonly string[]): AttributeChange[] {
  const ops = jsonpatch.compare((actual ?? {}) as object, desired as object);
  const seen = new Set<string>();
  const changes: AttributeChange[] = [];
  for (const op of ops) {
    const segs = op.path.slice(1).split('/').map(unescape);
    const attribute = segs[0]!;
    const whole = valueAt(desired, [attribute]) ?? valueAt(actual, [attribute]);
    const isMap = whole !== null && typeof whole === 'object' && !Array.isArray(whole);
    const depth = isMap && segs.length > 1 ? 2 : 1;
    const keySegs = segs.slice(0, depth);
    const path = '/' + keySegs.map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
    if (seen.has(path)) continue;
    seen.add(path);
    const attr = spec?.attributes.get(attribute);
    const isSensitive = sensitive.includes(attribute) || (attr?.sensitive ?? false);
    const from = valueAt(actual, keySegs);
    const to = valueAt(desired, keySegs);
    changes.push({
      path,
      attribute,
      ...(from === undefined ? {} : { from: isSensitive ? SENSITIVE : from }),
      ...(to === undefined ? {} : { to: isSensitive ? SENSITIVE : to }),
      effect: attr?.change ?? 'replace',
      sensitive: isSensitive,
    });
  }
  return changes;
}

export function planResource(desired: View, actual: View | null, wantsAbsent: boolean, spec: KindSpec | undefined, sensitive: readonly string[], refresh = false): ResourcePlan {
  if (wantsAbsent) {
    return actual === null
      ? { action: 'none', changes: [], forcedBy: [], refresh: false }
      : { action: 'delete', changes: [], forcedBy: [], refresh: false };
  }
  const changes = diffViews(desired, actual, spec, sensitive);
  if (actual === null) return { action: 'create', changes, forcedBy: [], refresh: false };
  if (changes.length === 0) return { action: 'none', changes, forcedBy: [], refresh };
  const forcedBy = [...new Set(changes.filter((c) => c.effect === 'replace').map((c) => c.attribute))];
  return { action: forcedBy.length > 0 ? 'replace' : 'update', changes, forcedBy, refresh };
}
