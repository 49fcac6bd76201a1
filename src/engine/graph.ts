/**
 * The resource graph: explicit relationships (require, before, notify, subscribe) plus
 * the automatic edges providers declare (a container requires its image, networks and
 * volumes; a file mounted into a container notifies it). Edges point from the resource
 * applied first to the one applied after it.
 */
import { TsconvergeError } from '../core/errors.js';
import type { Catalogue, CatalogueResource } from '../core/types.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { declaredAbsent } from '../providers/types.js';

export interface Graph {
  /** id -> ids that must be applied before it. */
  readonly deps: ReadonlyMap<string, ReadonlySet<string>>;
  /** id -> ids that must be applied after it. */
  readonly dependents: ReadonlyMap<string, ReadonlySet<string>>;
  /** id -> ids that refresh when it changes. */
  readonly notifies: ReadonlyMap<string, ReadonlySet<string>>;
  /** A topological order (dependencies first), stable by declaration order. */
  readonly order: readonly string[];
}

export function createGraph(catalogue: Catalogue, providers: ProviderRegistry): Graph {
  const deps = new Map<string, Set<string>>();
  const dependents = new Map<string, Set<string>>();
  const notifies = new Map<string, Set<string>>();
  for (const r of catalogue.resources) {
    deps.set(r.id, new Set());
    dependents.set(r.id, new Set());
    notifies.set(r.id, new Set());
  }
  // A declared relationship of a resource to itself is a cycle of one and is kept (the cycle
  // check below refuses it); an automatic edge to itself means nothing and is dropped.
  const edge = (first: string, then: string, declared = false): void => {
    if ((first === then && !declared) || !deps.has(first) || !deps.has(then)) return;
    deps.get(then)!.add(first);
    dependents.get(first)!.add(then);
  };
  const selfRef = new Map<string, string>(); // id -> the relation that names the resource itself
  const wantsAbsent = (r: CatalogueResource): boolean => declaredAbsent(providers.find(r.kind), r);
  for (const r of catalogue.resources) {
    for (const rel of ['require', 'before', 'notify', 'subscribe'] as const) if (r.relations[rel].includes(r.id) && !selfRef.has(r.id)) selfRef.set(r.id, rel);
    for (const x of r.relations.require) edge(x, r.id, true);
    for (const x of r.relations.before) edge(r.id, x, true);
    for (const x of r.relations.notify) {
      edge(r.id, x, true);
      notifies.get(r.id)!.add(x);
    }
    for (const x of r.relations.subscribe) {
      edge(x, r.id, true);
      notifies.get(x)!.add(r.id);
    }
    const p = providers.find(r.kind);
    for (const x of p?.autoRequire?.(r, catalogue.resources) ?? []) {
      const dep = catalogue.byId.get(x);
      if (!dep) continue;
      // Removing a thing that others use: remove the users first.
      if (wantsAbsent(dep) && !r.relations.require.includes(x)) edge(r.id, x);
      else edge(x, r.id);
    }
    for (const x of p?.autoSubscribe?.(r, catalogue.resources) ?? []) {
      if (!deps.has(x) || dependents.get(r.id)!.has(x)) continue;
      edge(x, r.id);
      notifies.get(x)!.add(r.id);
    }
  }
  const order = topologicalOrder(catalogue, deps, dependents, selfRef);
  return { deps, dependents, notifies, order };
}

/**
 * Kahn's algorithm with a min-heap on declaration position: among the resources whose
 * dependencies are done, the one declared first goes next. O((V + E) log V).
 */
function topologicalOrder(
  catalogue: Catalogue,
  deps: Map<string, Set<string>>,
  dependents: Map<string, Set<string>>,
  selfRef: ReadonlyMap<string, string>,
): string[] {
  const position = new Map(catalogue.resources.map((r, i) => [r.id, i]));
  const indegree = new Map([...deps].map(([id, d]) => [id, d.size]));
  const ready = new MinHeap();
  catalogue.resources.forEach((r, i) => {
    if (indegree.get(r.id) === 0) ready.push(i);
  });
  const order: string[] = [];
  while (ready.size > 0) {
    const id = catalogue.resources[ready.pop()]!.id;
    order.push(id);
    for (const next of dependents.get(id)!) {
      const n = indegree.get(next)! - 1;
      indegree.set(next, n);
      if (n === 0) ready.push(position.get(next)!);
    }
  }
  if (order.length < catalogue.resources.length) {
    const cycle = findCycle(deps, new Set(order));
    const first = catalogue.byId.get(cycle[0]!)!;
    const self = cycle.length === 2 ? selfRef.get(first.id) : undefined;
    throw new TsconvergeError('DEPENDENCY_CYCLE', `dependency cycle: ${cycle.join(' -> ')}${self ? ` (field ${self} names the resource itself)` : ''}`, {
      resource: first.id,
      location: self ? first.locate(`/${self}`) : first.source,
      terminal: true,
      hint: 'remove one of the require/before/notify/subscribe relationships in the cycle (automatic edges: a container requires its image, networks and volumes)',
    });
  }
  return order;
}

/** One cycle among the resources not in `done`, as ids; iterative (a chain of any length cannot overflow the stack). */
function findCycle(deps: Map<string, Set<string>>, done: Set<string>): string[] {
  const state = new Map<string, 1 | 2>();
  for (const start of deps.keys()) {
    if (done.has(start) || state.has(start)) continue;
    const path: string[] = [start];
    const iters: Iterator<string>[] = [deps.get(start)!.values()];
    state.set(start, 1);
    while (path.length > 0) {
      const next = iters[iters.length - 1]!.next();
      if (next.done) {
        state.set(path.pop()!, 2);
        iters.pop();
        continue;
      }
      const d = next.value;
      if (done.has(d)) continue;
      if (state.get(d) === 1) return [...path.slice(path.indexOf(d)), d].reverse();
      if (!state.has(d)) {
        state.set(d, 1);
        path.push(d);
        iters.push(deps.get(d)!.values());
      }
    }
  }
  return [];
}

/** A binary min-heap of numbers. */
class MinHeap {
  private readonly items: number[] = [];
  get size(): number {
    return this.items.length;
  }
  push(v: number): void {
    const a = this.items;
    a.push(v);
    for (let i = a.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (a[p]! <= a[i]!) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }
  pop(): number {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1,
          r = l + 1;
        let m = i;
        if (l < a.length && a[l]! < a[m]!) m = l;
        if (r < a.length && a[r]! < a[m]!) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}
