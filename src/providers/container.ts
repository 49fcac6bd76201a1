/**
 * The inversify composition root. Each line of the registration list (kinds.ts) is bound
 * under its kind's own typed identifier, in singleton scope, and resolved only when a
 * catalogue has that kind: a run of file resources never makes the Docker providers, nor
 * the Docker client they share (itself bound once, made on first use).
 */
import { Container, type ServiceIdentifier } from 'inversify';
import type Docker from 'dockerode';
import type { Provider } from './types.js';
import { ProviderRegistry } from './registry.js';
import { createDockerClient } from './docker/client.js';
import { PROVIDERS } from './kinds.js';

export const DOCKER: ServiceIdentifier<Docker> = Symbol.for('tsconverge.Docker');

/** The identifier a kind's provider is bound under. */
export function providerId(kind: string): ServiceIdentifier<Provider> {
  return Symbol.for(`tsconverge.Provider:${kind}`);
}

export function createAppContainer(overrides: { docker?: Docker } = {}): Container {
  const c = new Container();
  // The Docker client reads through a small node:http client; dockerode (which loads ssh2
  // and grpc) is loaded only before a Docker provider writes (docker/client.ts).
  c.bind(DOCKER)
    .toDynamicValue(() => overrides.docker ?? createDockerClient())
    .inSingletonScope();
  for (const [kind, create] of Object.entries(PROVIDERS)) {
    c.bind(providerId(kind))
      .toDynamicValue((ctx) => create({ docker: () => ctx.get(DOCKER) }))
      .inSingletonScope();
  }
  return c;
}

/** Every registered kind, each provider resolved from `container` on first use. */
export function createProviderRegistry(container: Container = createAppContainer()): ProviderRegistry {
  return new ProviderRegistry(new Map(Object.keys(PROVIDERS).map((kind) => [kind, () => container.get(providerId(kind))])));
}
