/**
 * The host settings providers (issue 3), for the inversify composition root: bind each
 * under the PROVIDER token. Creating them does no work: every probe of the host
 * happens lazily, in `suitable`, when a catalogue has that kind.
 */
import type { Provider } from './types.js';
import { createDnsProvider } from './dns/index.js';
import { createNtpProvider } from './ntp/index.js';
import { createForwardProvider, createLogrotateProvider } from './logging/index.js';
import { createSysctlProvider, type SysctlProviderOptions } from './sysctl/index.js';
import { createServiceProvider } from './service/index.js';
import { createDockerDaemonProvider } from './docker/daemon.js';

export interface HostProviderOptions {
  readonly sysctl?: SysctlProviderOptions;
}

/** Kinds: dns, ntp, logging.rotate, logging.forward, sysctl, service, docker.daemon. */
export function createHostProviders(opts: HostProviderOptions = {}): Provider[] {
  return [
    createDnsProvider(),
    createNtpProvider(),
    createLogrotateProvider(),
    createForwardProvider(),
    createSysctlProvider(opts.sysctl),
    createServiceProvider(),
    createDockerDaemonProvider(),
  ] as unknown as Provider[];
}
