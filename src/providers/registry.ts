/**
 * Provider lookup by kind. Providers are bound in the inversify composition root
 * (src/container.ts) under the PROVIDER token; a new kind is a new provider file and
 * one binding there, never an engine change.
 */
import type { Provider } from './types.js';

export class ProviderRegistry {
  private readonly byKind: ReadonlyMap<string, Provider>;

  constructor(providers: readonly Provider[]) {
    const map = new Map<string, Provider>();
    for (const p of providers) {
      if (map.has(p.kind)) throw new Error(`two providers registered for kind ${p.kind}`);
      map.set(p.kind, p);
    }
    this.byKind = map;
  }

  find(kind: string): Provider | undefined {
    return this.byKind.get(kind);
  }

  kinds(): string[] {
    return [...this.byKind.keys()].sort();
  }
}
