/**
 * The inversify composition root: the one place that knows every provider. A new
 * kind is a provider file plus one binding here.
 */
import { Container } from 'inversify';
import type Docker from 'dockerode';
import { PROVIDER, type Provider } from './types.js';
import { ProviderRegistry } from './registry.js';
import { createDockerClient, loadDockerode } from './docker/client.js';
import { createContainerProvider } from './docker/container.js';
import { createImageProvider } from './docker/image.js';
import { createNetworkProvider } from './docker/network.js';
import { createVolumeProvider } from './docker/volume.js';
import { createFileProvider } from './file/file.js';
import { createHostProviders } from './host.js';

export const DOCKER = Symbol.for('tsconverge.Docker');

/** A Docker provider whose writes load dockerode first; its reads never do (client.ts). */
function loadsDockerodeToWrite<A, O>(p: Provider<A, O>): Provider<A, O> {
  return {
    ...p,
    apply: async (...args) => { await loadDockerode(); return p.apply(...args); },
    ...(p.refresh ? { refresh: async (...args: Parameters<NonNullable<Provider<A, O>['refresh']>>) => { await loadDockerode(); return p.refresh!(...args); } } : {}),
  };
}

export function createAppContainer(overrides: { docker?: Docker } = {}): Container {
  const c = new Container();
  // The Docker client is created on first use and reads through a small node:http client;
  // dockerode (which loads ssh2 and grpc) is loaded only before a Docker provider writes.
  c.bind<Docker>(DOCKER).toDynamicValue(() => overrides.docker ?? createDockerClient()).inSingletonScope();
  c.bind<Provider>(PROVIDER).toDynamicValue((ctx) => loadsDockerodeToWrite(createImageProvider(ctx.get<Docker>(DOCKER))) as unknown as Provider).inSingletonScope();
  c.bind<Provider>(PROVIDER).toDynamicValue((ctx) => loadsDockerodeToWrite(createContainerProvider(ctx.get<Docker>(DOCKER))) as unknown as Provider).inSingletonScope();
  c.bind<Provider>(PROVIDER).toDynamicValue((ctx) => loadsDockerodeToWrite(createNetworkProvider(ctx.get<Docker>(DOCKER))) as unknown as Provider).inSingletonScope();
  c.bind<Provider>(PROVIDER).toDynamicValue((ctx) => loadsDockerodeToWrite(createVolumeProvider(ctx.get<Docker>(DOCKER))) as unknown as Provider).inSingletonScope();
  c.bind<Provider>(PROVIDER).toDynamicValue(() => createFileProvider() as unknown as Provider).inSingletonScope();
  // Host settings: dns, ntp, logging.rotate, logging.forward, sysctl, service, docker.daemon.
  for (const p of createHostProviders()) c.bind<Provider>(PROVIDER).toConstantValue(p);
  return c;
}

export function createProviderRegistry(container: Container = createAppContainer()): ProviderRegistry {
  return new ProviderRegistry(container.getAll<Provider>(PROVIDER));
}
