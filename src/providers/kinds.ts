/**
 * The one registration list: every kind tsconverge converges and how its provider is made.
 * A kind is three things: its schema in spec/kinds/<kind>.json (validation, types, docs,
 * what it claims), its provider file, and one line here. Nothing else names kinds: the
 * composition root (container.ts) binds each line under its own typed identifier and
 * makes a provider only when a catalogue has its kind; src/providers/kinds.test.ts holds
 * this list and spec/kinds/ equal. docs/architecture.md: "Add a kind".
 */
import type Docker from 'dockerode';
import type { Provider } from './types.js';
import { createBackupVolumeProvider } from './backup/volume.js';
import { withDockerodeToWrite } from './docker/client.js';
import { createContainerProvider } from './docker/container.js';
import { createDockerDaemonProvider } from './docker/daemon.js';
import { createImageProvider } from './docker/image.js';
import { createNetworkProvider } from './docker/network.js';
import { createVolumeProvider } from './docker/volume.js';
import { createDnsProvider } from './dns/dns.js';
import { createFileProvider } from './file/file.js';
import { createFirewallPolicyProvider } from './firewall/policy.js';
import { createFirewallRuleProvider } from './firewall/rule.js';
import { createGroupProvider } from './group/group.js';
import { createForwardProvider } from './logging/forward.js';
import { createLogrotateProvider } from './logging/rotate.js';
import { createNtpProvider } from './ntp/ntp.js';
import { createServiceProvider } from './service/service.js';
import { createAuthorizedKeysProvider } from './ssh/authorized_keys.js';
import { createSudoRuleProvider } from './sudo/rule.js';
import { createSysctlProvider } from './sysctl/sysctl.js';
import { createUserProvider } from './user/user.js';

/** What a provider factory may ask the composition root for; each is made on first use. */
export interface ProviderServices {
  /** The one Docker client of the process (created on first use; dockerode loaded only to write). */
  readonly docker: () => Docker;
}

/** Makes the provider of one kind. Creating it does no work: every probe of the host waits for `suitable`. */
export type CreateProvider = (services: ProviderServices) => Provider;

/** A docker.* kind that talks to the engine: the shared client, and dockerode loaded before a write. */
const engine =
  (create: (docker: Docker) => Provider): CreateProvider =>
  (services) =>
    withDockerodeToWrite(create(services.docker()));

export const PROVIDERS: Readonly<Record<string, CreateProvider>> = {
  'backup.volume': engine(createBackupVolumeProvider),
  'docker.container': engine(createContainerProvider),
  'docker.daemon': () => createDockerDaemonProvider(),
  'docker.image': engine(createImageProvider),
  'docker.network': engine(createNetworkProvider),
  'docker.volume': engine(createVolumeProvider),
  dns: () => createDnsProvider(),
  file: () => createFileProvider(),
  'firewall.policy': (services) => createFirewallPolicyProvider(services.docker()),
  'firewall.rule': (services) => createFirewallRuleProvider(services.docker()),
  group: () => createGroupProvider(),
  'logging.forward': () => createForwardProvider(),
  'logging.rotate': () => createLogrotateProvider(),
  ntp: () => createNtpProvider(),
  service: () => createServiceProvider(),
  'ssh.authorized_keys': () => createAuthorizedKeysProvider(),
  'sudo.rule': () => createSudoRuleProvider(),
  sysctl: () => createSysctlProvider(),
  user: () => createUserProvider(),
};
