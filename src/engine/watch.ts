/**
 * What the agent watches between runs, and what a targeted run covers.
 *
 * `watchList` asks each kind's provider how its resources can be watched
 * (Provider.watch) and gathers the answers by target: engine objects by type and name,
 * host paths by path, each with the ids of the resources it affects. The agent writes it
 * to <stateDir>/watch.json after every run; the process that watches reads it, so it
 * never loads the catalogue, the engine or a provider itself.
 *
 * `targetClosure` is what a run started by an event converges: the resources the event
 * marked, plus everything that depends on them or is notified by them (a container on a
 * network that lost it, a service a rewritten config file notifies), transitively.
 */
import type { Catalogue } from '../core/types.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { Graph } from './graph.js';

export type DockerWatchType = 'container' | 'network' | 'volume';

export interface WatchList {
  readonly formatVersion: 1;
  /** The catalogue version it was made from. */
  readonly catalogue: string;
  /** Engine objects by type, then name -> the resource ids it affects. */
  readonly docker: Readonly<Record<DockerWatchType, Readonly<Record<string, readonly string[]>>>>;
  /** Host paths (as declared, under --root) -> the resource ids that manage them. */
  readonly paths: Readonly<Record<string, readonly string[]>>;
}

export function watchList(catalogue: Catalogue, providers: ProviderRegistry): WatchList {
  const docker: Record<DockerWatchType, Record<string, string[]>> = { container: {}, network: {}, volume: {} };
  const paths: Record<string, string[]> = {};
  const add = (m: Record<string, string[]>, key: string, id: string): void => {
    const list = (m[key] ??= []);
    if (!list.includes(id)) list.push(id);
  };
  for (const r of catalogue.resources) {
    const p = providers.find(r.kind);
    for (const t of p?.watch?.(r) ?? []) {
      if ('docker' in t) add(docker[t.docker], t.name, r.id);
      else add(paths, t.path, r.id);
    }
  }
  return { formatVersion: 1, catalogue: catalogue.version, docker, paths };
}

/** `marked` and every resource after them in the graph (dependents and notified), transitively. */
export function targetClosure(graph: Graph, marked: Iterable<string>): Set<string> {
  const out = new Set<string>();
  const todo = [...marked].filter((id) => graph.deps.has(id));
  while (todo.length > 0) {
    const id = todo.pop()!;
    if (out.has(id)) continue;
    out.add(id);
    for (const next of graph.dependents.get(id) ?? []) if (!out.has(next)) todo.push(next);
    for (const next of graph.notifies.get(id) ?? []) if (!out.has(next)) todo.push(next);
  }
  return out;
}

/** The catalogue restricted to `ids` (declaration order kept); edges to resources left out are ignored by the graph. */
export function subCatalogue(catalogue: Catalogue, ids: ReadonlySet<string>): Catalogue {
  const resources = catalogue.resources.filter((r) => ids.has(r.id));
  return { version: catalogue.version, resources, byId: new Map(resources.map((r) => [r.id, r])) };
}
