/**
 * The inversify composition root: the one place that knows every provider. A new
 * kind is a provider file plus one binding here.
 */
import { Container } from 'inversify';
import type Docker from 'dockerode';
import { PROVIDER, type Provider } from './providers/types.js';
import { ProviderRegistry } from './providers/registry.js';
import { createDockerClient } from './providers/docker/client.js';
import { createContainerProvider } from './providers/docker/container.js';
import { createImageProvider } from './providers/docker/image.js';
import { createNetworkProvider } from './providers/docker/network.js';
import { createVolumeProvider } from './providers/docker/volume.js';
import { createFileProvider } from './providers/file/file.js';
import { createHostProviders } from './providers/host.js';

export const DOCKER = Symbol.for('tsconverge.Docker');

function lazyDocker(): Docker {
  let real: Docker | undefined;
  return new Proxy({} as Docker, {
    get: (_target, key) => {
      real ??= createDockerClient();
      const v = (real as unknown as Record<PropertyKey, unknown>)[key];
      return typeof v === 'function' ? v.bind(real) : v;
    },
  });
}

export function createAppContainer(overrides: { docker?: Docker } = {}): Container {
  const c = new Container();
  // The Docker client (and dockerode, which loads ssh2 and grpc) is created on first use,
  // so `validate`, `compile` and catalogues without Docker kinds never load it.
  c.bind<Docker>(DOCKER).toDynamicValue(() => overrides.docker ?? lazyDocker()).inSingletonScope();
  c.bind<Provider>(PROVIDER).toDynamicValue((ctx) => createImageProvider(ctx.get<Docker>(DOCKER)) as unknown as Provider).inSingletonScope();
  c.bind<Provider>(PROVIDER).toDynamicValue((ctx) => createContainerProvider(ctx.get<Docker>(DOCKER)) as unknown as Provider).inSingletonScope();
  c.bind<Provider>(PROVIDER).toDynamicValue((ctx) => createNetworkProvider(ctx.get<Docker>(DOCKER)) as unknown as Provider).inSingletonScope();
  c.bind<Provider>(PROVIDER).toDynamicValue((ctx) => createVolumeProvider(ctx.get<Docker>(DOCKER)) as unknown as Provider).inSingletonScope();
  c.bind<Provider>(PROVIDER).toDynamicValue(() => createFileProvider() as unknown as Provider).inSingletonScope();
  // Host settings: dns, ntp, logging.rotate, logging.forward, sysctl, service, docker.daemon.
  for (const p of createHostProviders()) c.bind<Provider>(PROVIDER).toConstantValue(p);
  return c;
}

export function createProviderRegistry(container: Container = createAppContainer()): ProviderRegistry {
  return new ProviderRegistry(container.getAll<Provider>(PROVIDER));
}
