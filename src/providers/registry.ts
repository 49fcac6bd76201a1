/**
 * Provider lookup by kind, for the engine. The composition root (container.ts) gives one
 * maker per registered kind (kinds.ts), and a provider is made the first time its kind is
 * asked for; tests give ready providers.
 */
import type { Provider } from './types.js';

export class ProviderRegistry {
  private readonly makers: ReadonlyMap<string, () => Provider>;
  private readonly made = new Map<string, Provider>();

  /** One maker per kind (made on first use), or a list of ready providers. */
  constructor(providers: ReadonlyMap<string, () => Provider> | readonly Provider[]) {
    if (providers instanceof Map) {
      this.makers = providers;
      return;
    }
    const makers = new Map<string, () => Provider>();
    for (const p of providers as readonly Provider[]) {
      if (makers.has(p.kind)) throw new Error(`two providers registered for kind ${p.kind}`);
      makers.set(p.kind, () => p);
    }
    this.makers = makers;
  }

  find(kind: string): Provider | undefined {
    let p = this.made.get(kind);
    if (p) return p;
    const make = this.makers.get(kind);
    if (!make) return undefined;
    p = make();
    if (p.kind !== kind) throw new Error(`the provider registered for kind ${kind} says it is for ${p.kind}`);
    this.made.set(kind, p);
    return p;
  }

  kinds(): string[] {
    return [...this.makers.keys()].sort();
  }
}
