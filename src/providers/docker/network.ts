/**
 * docker.network: one listNetworks call reads them all. Networks cannot be changed in
 * place, so a changed option replaces the network: the containers attached to it are
 * disconnected, the network recreated, and the containers reconnected with their
 * aliases. Nothing is silently ignored.
 */
import type Docker from 'dockerode';
import type { Json, Provider, Resource, View } from '../types.js';
import type { DockerNetwork } from '../../generated/kinds.js';
import { TsconvergeError } from '../../core/errors.js';
import { dockerOwnership } from './ownership.js';
import { dockerError, dockerUnsuitable } from './client.js';
import { ownerLabels, userLabels } from './ownership.js';

export type NetworkAttrs = Omit<DockerNetwork, 'kind' | 'name' | 'require' | 'before' | 'notify' | 'subscribe'>;
type R = Resource<NetworkAttrs>;

function desired(a: NetworkAttrs): View {
  const v: Record<string, Json> = { driver: a.driver ?? 'bridge' };
  if (a.internal !== undefined) v.internal = a.internal;
  if (a.attachable !== undefined) v.attachable = a.attachable;
  if (a.enableIPv6 !== undefined) v.enableIPv6 = a.enableIPv6;
  if (a.subnet !== undefined) v.subnet = a.subnet;
  if (a.gateway !== undefined) v.gateway = a.gateway;
  if (a.ipRange !== undefined) v.ipRange = a.ipRange;
  if (a.ipv6Subnet !== undefined) v.ipv6Subnet = a.ipv6Subnet;
  if (a.ipv6Gateway !== undefined) v.ipv6Gateway = a.ipv6Gateway;
  if (a.options !== undefined) v.options = { ...a.options };
  if (a.labels !== undefined) v.labels = { ...a.labels };
  return v;
}

type IpamConfig = { Subnet?: string; Gateway?: string; IPRange?: string };
/** The IPv4 and the IPv6 IPAM config of a network (the engine lists them in any order). */
function ipamOf(n: Docker.NetworkInspectInfo): { v4?: IpamConfig; v6?: IpamConfig } {
  const cfg = (n.IPAM?.Config ?? []) as IpamConfig[];
  return { v4: cfg.find((c) => !(c.Subnet ?? '').includes(':')), v6: cfg.find((c) => (c.Subnet ?? '').includes(':')) };
}

function actual(a: NetworkAttrs, n: Docker.NetworkInspectInfo): View {
  const v: Record<string, Json> = { driver: n.Driver };
  const { v4: ipam, v6 } = ipamOf(n);
  if (a.internal !== undefined) v.internal = n.Internal;
  if (a.attachable !== undefined) v.attachable = n.Attachable;
  if (a.enableIPv6 !== undefined) v.enableIPv6 = n.EnableIPv6;
  if (a.subnet !== undefined) v.subnet = ipam?.Subnet ?? '';
  if (a.gateway !== undefined) v.gateway = ipam?.Gateway ?? '';
  if (a.ipRange !== undefined) v.ipRange = ipam?.IPRange ?? '';
  if (a.ipv6Subnet !== undefined) v.ipv6Subnet = v6?.Subnet ?? '';
  if (a.ipv6Gateway !== undefined) v.ipv6Gateway = v6?.Gateway ?? '';
  if (a.options !== undefined) v.options = { ...(n.Options ?? {}) };
  if (a.labels !== undefined) v.labels = userLabels(n.Labels);
  return v;
}

function createOptions(r: R): Docker.NetworkCreateOptions {
  const a = r.attrs;
  const v4 =
    a.subnet || a.gateway || a.ipRange
      ? [{ ...(a.subnet ? { Subnet: a.subnet } : {}), ...(a.gateway ? { Gateway: a.gateway } : {}), ...(a.ipRange ? { IPRange: a.ipRange } : {}) }]
      : [];
  const v6 = a.ipv6Subnet ? [{ Subnet: a.ipv6Subnet, ...(a.ipv6Gateway ? { Gateway: a.ipv6Gateway } : {}) }] : [];
  const ipam = v4.length || v6.length ? { Driver: 'default', Config: [...v4, ...v6] } : undefined;
  return {
    Name: r.name,
    Driver: a.driver ?? 'bridge',
    CheckDuplicate: true,
    ...(a.internal !== undefined ? { Internal: a.internal } : {}),
    ...(a.attachable !== undefined ? { Attachable: a.attachable } : {}),
    ...(a.enableIPv6 !== undefined ? { EnableIPv6: a.enableIPv6 } : {}),
    ...(ipam ? { IPAM: ipam } : {}),
    Options: { ...(a.options ?? {}) },
    Labels: { ...(a.labels ?? {}), ...ownerLabels(r.id) },
  };
}

/** The options that create a network again exactly as the engine reported it. */
function restoreOptions(n: Docker.NetworkInspectInfo): Docker.NetworkCreateOptions {
  const cfg = (n.IPAM?.Config ?? []) as Record<string, unknown>[];
  return {
    Name: n.Name,
    Driver: n.Driver,
    CheckDuplicate: true,
    Internal: n.Internal,
    Attachable: n.Attachable,
    EnableIPv6: n.EnableIPv6,
    ...(cfg.length ? { IPAM: { Driver: n.IPAM?.Driver ?? 'default', Config: cfg } } : {}),
    Options: { ...(n.Options ?? {}) },
    Labels: { ...(n.Labels ?? {}) },
  } as Docker.NetworkCreateOptions;
}

export function createNetworkProvider(docker: Docker): Provider<NetworkAttrs, Docker.NetworkInspectInfo> {
  /**
   * Replace: disconnect the attached containers, remove the network, create the new one,
   * reconnect them with their aliases. Fails safe: if the old network cannot be removed,
   * the containers are reconnected to it; if the engine refuses the new network, the old
   * one is created again as it was and the containers reconnected, then the error is thrown.
   */
  async function replace(r: R, old: Docker.NetworkInspectInfo): Promise<void> {
    const net = docker.getNetwork(old.Id);
    const info = (await net.inspect()) as Docker.NetworkInspectInfo;
    const attached = Object.keys(info.Containers ?? {});
    const endpoints = await Promise.all(
      attached.map(async (cid) => {
        const c = await docker.getContainer(cid).inspect();
        const engineAliases = new Set([c.Id.slice(0, 12), c.Config.Hostname]);
        return { cid, aliases: ((c.NetworkSettings.Networks?.[old.Name]?.Aliases ?? []) as string[]).filter((x) => !engineAliases.has(x)) };
      }),
    );
    const reconnect = async (to: Docker.Network, list: typeof endpoints): Promise<void> => {
      for (const e of list) await to.connect({ Container: e.cid, EndpointConfig: { Aliases: e.aliases } });
    };
    const disconnected: typeof endpoints = [];
    try {
      for (const e of endpoints) {
        await net.disconnect({ Container: e.cid, Force: true });
        disconnected.push(e);
      }
      await net.remove();
    } catch (err) {
      await reconnect(net, disconnected).catch(() => undefined);
      throw err;
    }
    let created: Docker.Network;
    try {
      created = await docker.createNetwork(createOptions(r));
    } catch (err) {
      try {
        await reconnect(await docker.createNetwork(restoreOptions(info)), endpoints);
      } catch (restoreErr) {
        throw new TsconvergeError(
          'DOCKER_API',
          `replace network: the engine refused the new network (${(err as Error).message}) and restoring the old one failed too: ${(restoreErr as Error).message}`,
          {
            resource: r.id,
            cause: err,
            terminal: true,
            hint: `containers ${endpoints.map((e) => e.cid.slice(0, 12)).join(', ') || '(none)'} were attached to it; recreate network ${old.Name} and reconnect them`,
          },
        );
      }
      throw err;
    }
    await reconnect(created, endpoints);
  }

  return {
    kind: 'docker.network',
    suitable: () => dockerUnsuitable(docker),
    watch: (r) => [{ docker: 'network', name: r.name }],
    async readMany(resources) {
      const list = await docker.listNetworks();
      const byName = new Map(list.map((n) => [n.Name, n]));
      return new Map(resources.map((r) => [r.id, byName.get(r.name) ?? null]));
    },
    views: (r, observed) => ({ desired: desired(r.attrs), actual: observed ? actual(r.attrs, observed) : null }),
    ownership: (_r, n) => dockerOwnership(n.Id, n.Labels),
    async apply(r, plan, observed) {
      try {
        if (plan.action === 'create') await docker.createNetwork(createOptions(r));
        else if (plan.action === 'replace') await replace(r, observed!);
        else if (plan.action === 'delete') await docker.getNetwork(observed!.Id).remove();
      } catch (err) {
        throw dockerError(err, r.id, `${plan.action} network`);
      }
      return null;
    },
  };
}
