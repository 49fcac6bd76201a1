/**
 * A compiled catalogue as JSON in the state directory, and back: the agent's
 * last-known-good (src/agent/cache.ts) and the one-shot CLI's stored compile
 * (compile-cache.ts). The version is recomputed from the content read back, so a
 * file whose content does not match its recorded digest is refused by the caller.
 */
import { catalogueVersion, freezeCatalogue, RELATIONS } from './compile.js';
import type { Catalogue, CatalogueResource, Relation } from '../core/types.js';

export type StoredResource = Omit<CatalogueResource, 'locate'>;

export function storedResources(catalogue: Catalogue): StoredResource[] {
  return catalogue.resources.map((r) => ({
    kind: r.kind,
    name: r.name,
    id: r.id,
    attrs: r.attrs,
    ...(r.source ? { source: r.source } : {}),
    sensitive: r.sensitive,
    relations: r.relations,
  }));
}

/** The catalogue of stored resources, its version recomputed from them; `file` locates resources without a source. */
export function catalogueFromStored(stored: readonly StoredResource[], file: string): Catalogue {
  const resources: CatalogueResource[] = stored.map((r) => {
    const relations = Object.fromEntries(RELATIONS.map((rel: Relation) => [rel, r.relations?.[rel] ?? []])) as Record<Relation, string[]>;
    return { ...r, relations, locate: (pointer: string) => ({ ...(r.source ?? { file }), pointer }) };
  });
  const version = catalogueVersion(resources);
  return freezeCatalogue({ version, resources, byId: new Map(resources.map((r) => [r.id, r])) });
}
