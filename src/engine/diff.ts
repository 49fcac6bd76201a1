/**
 * Diff and plan: compare the normalised desired and actual views with fast-json-patch,
 * group the operations by attribute, and classify the resource's action from the
 * schema's x-change annotations. Sensitive values are masked here, before any plan,
 * log or report can hold them.
 *
 * `sensitive` lists attribute names (`content`: the whole attribute) and JSON pointers
 * (`/environment/DB_PASSWORD`: one map key). A change at or below a sensitive pointer
 * is masked whole; a change above one (a whole map created) keeps its other keys and
 * masks the sensitive ones. A pointer that goes through a list masks the whole list
 * element it names, whatever order the view keeps.
 */
import jsonpatch from 'fast-json-patch';
import type { KindSpec } from '../spec/schemas.js';
import type { AttributeChange, Json, ResourcePlan, View } from '../providers/types.js';
import { MASK } from '../core/redact.js';

/** What a sensitive value shows as in plans and reports: redaction's mask (core/redact.ts). */
export const SENSITIVE = MASK;

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

function toPointers(sensitive: readonly string[]): string[] {
  return sensitive.map((s) => (s.startsWith('/') ? s : '/' + s.replace(/~/g, '~0').replace(/\//g, '~1')));
}

/** Copy of `value` (found at `at`) with the values at sensitive pointers below `at` masked. */
function maskBelow(value: Json | undefined, at: string, pointers: readonly string[]): Json | undefined {
  if (value === undefined) return undefined;
  let out: Json = value;
  for (const p of pointers) {
    if (!p.startsWith(at + '/')) continue;
    const segs = p
      .slice(at.length + 1)
      .split('/')
      .map(unescape);
    const set = (cur: Json, i: number): Json => {
      if (cur === null || typeof cur !== 'object') return cur;
      if (Array.isArray(cur)) return SENSITIVE;
      const obj = cur as { readonly [k: string]: Json };
      const key = segs[i]!;
      if (!(key in obj)) return cur;
      return { ...obj, [key]: i === segs.length - 1 ? SENSITIVE : set(obj[key]!, i + 1) };
    };
    out = set(out, 0);
  }
  return out;
}

/** Attribute-level changes between two views. Lists change as a whole; maps change per key. */
export function diffViews(desired: View, actual: View | null, spec: KindSpec | undefined, sensitive: readonly string[]): AttributeChange[] {
  const ops = jsonpatch.compare((actual ?? {}) as object, desired as object);
  const seen = new Set<string>();
  const changes: AttributeChange[] = [];
  const pointers = toPointers(sensitive);
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
    const masked = (attr?.sensitive ?? false) || pointers.some((p) => path === p || path.startsWith(p + '/'));
    const below = !masked && pointers.some((p) => p.startsWith(path + '/'));
    const from = masked ? SENSITIVE : maskBelow(valueAt(actual, keySegs), path, pointers);
    const to = masked ? SENSITIVE : maskBelow(valueAt(desired, keySegs), path, pointers);
    const hasFrom = valueAt(actual, keySegs) !== undefined;
    const hasTo = valueAt(desired, keySegs) !== undefined;
    changes.push({
      path,
      attribute,
      ...(hasFrom ? { from } : {}),
      ...(hasTo ? { to } : {}),
      effect: attr?.change ?? 'replace',
      sensitive: masked || below,
    });
  }
  return changes;
}

export function planResource(
  desired: View,
  actual: View | null,
  wantsAbsent: boolean,
  spec: KindSpec | undefined,
  sensitive: readonly string[],
  refresh = false,
): ResourcePlan {
  if (wantsAbsent) {
    return actual === null ? { action: 'none', changes: [], forcedBy: [], refresh: false } : { action: 'delete', changes: [], forcedBy: [], refresh: false };
  }
  const changes = diffViews(desired, actual, spec, sensitive);
  if (actual === null) return { action: 'create', changes, forcedBy: [], refresh: false };
  if (changes.length === 0) return { action: 'none', changes, forcedBy: [], refresh };
  const forcedBy = [...new Set(changes.filter((c) => c.effect === 'replace').map((c) => c.attribute))];
  if (forcedBy.length > 0) return { action: 'replace', changes, forcedBy, refresh };
  return { action: 'update', changes, forcedBy, refresh: refresh || changes.some((c) => c.effect === 'restart') };
}
