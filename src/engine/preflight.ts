/**
 * The checks a catalogue passes before a run reads or writes anything: the graph (cycles,
 * a resource that names itself) and each provider's `preflight` (what this host can never
 * apply, e.g. an unknown sysctl key). validate, plan and apply call it right after loading,
 * so a refusal is an input error with file:line:column and the field, exit 1, and nothing
 * (not the state directory, not the stored compile) has been written.
 */
import { ManifestErrors, TsconvergeError } from '../core/errors.js';
import type { Catalogue, CatalogueResource } from '../core/types.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { createGraph, type Graph } from './graph.js';

export async function preflightCatalogue(catalogue: Catalogue, providers: ProviderRegistry): Promise<Graph> {
  const graph = createGraph(catalogue, providers);
  const byKind = new Map<string, CatalogueResource[]>();
  for (const r of catalogue.resources) {
    let list = byKind.get(r.kind);
    if (!list) {
      list = [];
      byKind.set(r.kind, list);
    }
    list.push(r);
  }
  const errors: TsconvergeError[] = [];
  for (const [kind, list] of byKind) {
    const p = providers.find(kind);
    if (!p?.preflight) continue;
    for (const x of await p.preflight(list)) {
      const r = catalogue.byId.get(x.id);
      errors.push(new TsconvergeError(x.code, x.message, { resource: x.id, location: r?.locate(x.pointer), hint: x.hint, terminal: true }));
    }
  }
  if (errors.length) throw new ManifestErrors(errors);
  return graph;
}
