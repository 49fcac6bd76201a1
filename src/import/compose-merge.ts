/**
 * Several Compose files merged in order, the way Compose does: later files override
 * scalars, mappings merge key by key (environment, labels, networks, ...), and some lists
 * merge: ports, dns and capabilities as a union, volumes by their target path, secrets and
 * configs by target. List forms (`environment: [A=1]`) are turned into maps first.
 * `!reset` removes a key from what it merges with, `!override` replaces instead of merging
 * (compose-yaml.ts); the markers are gone from the result.
 */
import { isReset, Override, stripMarkers } from './compose-yaml.js';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** `[A=1, B]` -> {A: '1', B: null}; a map is kept. */
export function listToMap(v: unknown, sep = '='): Obj {
  if (isObj(v)) return { ...v };
  if (!Array.isArray(v)) return {};
  return Object.fromEntries(
    v.map((e) => {
      const s = String(e);
      const i = s.indexOf(sep);
      return i < 0 ? [s, null] : [s.slice(0, i), s.slice(i + 1)];
    }),
  );
}

/** depends_on as a map of service -> {condition}. */
export function dependsMap(v: unknown): Record<string, { condition: string; restart?: boolean; required?: boolean }> {
  if (Array.isArray(v)) return Object.fromEntries(v.map((s) => [String(s), { condition: 'service_started' }]));
  if (isObj(v)) {
    return Object.fromEntries(
      Object.entries(v).map(([k, c]) => {
        const o = (c ?? {}) as Obj;
        const flag = (x: unknown): boolean | undefined => (x === undefined ? undefined : x === true || x === 'true');
        const restart = flag(o.restart);
        const required = flag(o.required);
        return [
          k,
          {
            condition: String(o.condition ?? 'service_started'),
            ...(restart !== undefined ? { restart } : {}),
            ...(required !== undefined ? { required } : {}),
          },
        ];
      }),
    );
  }
  return {};
}

/** networks as a map of name -> options (or null). */
export function networksMap(v: unknown): Record<string, Obj | null> {
  if (Array.isArray(v)) return Object.fromEntries(v.map((s) => [String(s), null]));
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, o]) => [k, isObj(o) ? o : null]));
  return {};
}

/** A short or long volume entry's target path. */
export function volumeTarget(v: unknown): string {
  if (isObj(v)) return String(v.target ?? '');
  const parts = String(v).split(':');
  if (parts.length === 1) return parts[0]!;
  // Windows drive letters are not handled: Linux hosts only.
  return parts[1]!;
}

const UNION = new Set([
  'ports',
  'expose',
  'dns',
  'dns_search',
  'cap_add',
  'cap_drop',
  'tmpfs',
  'external_links',
  'extra_hosts',
  'env_file',
  'profiles',
  'security_opt',
  'devices',
]);
const MAPS = new Set(['environment', 'labels', 'sysctls']);

/** A marker decides alone: `!reset` removes, `!override` replaces. */
function marked(out: Obj, k: string, v: unknown): boolean {
  if (isReset(v)) {
    delete out[k];
    return true;
  }
  if (v instanceof Override) {
    out[k] = v.value;
    return true;
  }
  return false;
}

function deepMerge(a: unknown, b: unknown): unknown {
  if (b instanceof Override) return b.value;
  if (isObj(a) && isObj(b)) {
    const out: Obj = { ...a };
    for (const [k, v] of Object.entries(b)) if (!marked(out, k, v)) out[k] = k in a ? deepMerge(a[k], v) : v;
    return out;
  }
  return b;
}

function byKey(a: unknown, b: unknown, key: (v: unknown) => string): unknown[] {
  const m = new Map<string, unknown>();
  for (const v of [...(Array.isArray(a) ? a : []), ...(Array.isArray(b) ? b : [])]) m.set(key(v), v);
  return [...m.values()];
}

export function mergeService(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (marked(out, k, v)) continue;
    if (!(k in base)) {
      out[k] = v;
      continue;
    }
    const old = base[k];
    if (UNION.has(k) && Array.isArray(old) && Array.isArray(v))
      out[k] = [...new Set([...old, ...v].map((x) => JSON.stringify(x)))].map((x) => JSON.parse(x) as unknown);
    else if (MAPS.has(k)) out[k] = { ...listToMap(old), ...listToMap(v) };
    else if (k === 'volumes') out[k] = byKey(old, v, volumeTarget);
    else if (k === 'secrets' || k === 'configs') out[k] = byKey(old, v, (s) => (isObj(s) ? String(s.target ?? s.source) : String(s)));
    else if (k === 'depends_on') out[k] = { ...dependsMap(old), ...dependsMap(v) };
    else if (k === 'networks') out[k] = deepMerge(networksMap(old), networksMap(v));
    else if (k === 'command' || k === 'entrypoint') out[k] = v;
    else out[k] = deepMerge(old, v);
  }
  return out;
}

/** Merge the files' contents in order; the result holds no `!reset`/`!override` marker. */
export function mergeCompose(datas: readonly Obj[]): Obj {
  return stripMarkers(mergeMarked(datas)) as Obj;
}

/** The merge, markers of the last file kept (extends applies them once more). */
export function mergeMarked(datas: readonly Obj[]): Obj {
  const out: Obj = {};
  for (const d of datas) {
    for (const [top, v] of Object.entries(d)) {
      if (top === 'services' && isObj(v)) {
        const services = { ...((out.services as Obj | undefined) ?? {}) };
        for (const [name, svc] of Object.entries(v)) {
          if (isReset(svc)) delete services[name];
          else
            services[name] = isObj(services[name]) && isObj(svc) ? mergeService(services[name] as Obj, svc) : svc instanceof Override ? svc.value : (svc ?? {});
        }
        out.services = services;
      } else if (!marked(out, top, v)) out[top] = top in out ? deepMerge(out[top], v) : v;
    }
  }
  return out;
}
