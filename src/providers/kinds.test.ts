/**
 * The registry is derived, not kept by hand: a kind is its schema in spec/kinds, its
 * provider file and one line in kinds.ts. These tests hold the three together and show
 * that providers are made lazily, per kind.
 */
import { describe, expect, it } from 'vitest';
import { createSchemaRegistry } from '../spec/schemas.js';
import { PROVIDERS } from './kinds.js';
import { DOCKER, createAppContainer, createProviderRegistry, providerId } from './container.js';

const schemas = createSchemaRegistry();

describe('the registration list and spec/kinds', () => {
  it('name the same kinds: every schema has a provider and every provider a schema', () => {
    expect(Object.keys(PROVIDERS).sort()).toEqual([...schemas.kinds.keys()].sort());
  });

  it.each(Object.keys(PROVIDERS))('%s: its provider says its kind and is made without touching the host', (kind) => {
    const p = createProviderRegistry().find(kind);
    expect(p?.kind).toBe(kind);
  });

  it('every claim in a schema names a namespace and an attribute the kind has (checked when the schemas are read)', () => {
    for (const k of schemas.kinds.values()) {
      for (const c of k.claims) for (const p of c.from) expect(p === '/name' || k.attributes.has(p.slice(1).split('/')[0]!), `${k.kind}: ${p}`).toBe(true);
    }
  });
});

describe('lazy per-kind resolution', () => {
  it('makes a provider on first use, once, and the Docker client only for a Docker kind', () => {
    const container = createAppContainer();
    const made: string[] = [];
    for (const kind of Object.keys(PROVIDERS))
      container.onActivation(providerId(kind), (_ctx, p) => {
        made.push(kind);
        return p;
      });
    container.onActivation(DOCKER, (_ctx, d) => {
      made.push('docker client');
      return d;
    });
    const registry = createProviderRegistry(container);
    expect(made).toEqual([]);
    registry.find('file');
    registry.find('file');
    registry.find('sysctl');
    expect(made).toEqual(['file', 'sysctl']);
    registry.find('docker.container');
    registry.find('docker.image');
    expect(made).toEqual(['file', 'sysctl', 'docker client', 'docker.container', 'docker.image']);
    expect(registry.find('no.such-kind')).toBeUndefined();
  });
});
