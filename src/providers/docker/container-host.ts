/**
 * docker.container's host-level settings (issue 28): ulimits, privileged, tty, stdin,
 * security options, /dev/shm, devices, groups, pid and ipc namespaces, init, extra hosts,
 * block I/O limits, pids, swap, memory reservation, CPU shares and set. For each: the
 * desired view, the engine's view in the same normal form (sizes in bytes, sets sorted,
 * the engine's fill-ins such as rwm and container:<id> mapped back), and the create and
 * update options. Only declared attributes are compared, so the engine's defaults are
 * never drift.
 */
import type Docker from 'dockerode';
import type { Json } from '../types.js';
import type { DockerContainer } from '../../generated/kinds.js';

type A = Omit<DockerContainer, 'kind' | 'name' | 'require' | 'before' | 'notify' | 'subscribe'>;
type DeviceLimit = { path: string; rate: number | string };
type HostConfig = Docker.HostConfig & Record<string, unknown>;

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
function bytes(v: string | number): number {
  if (typeof v === 'number') return v;
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([kmgtb]?)(?:ib|i|b)?$/i.exec(v.trim());
  if (!m) throw new Error(`not a size: ${v}`);
  return Math.round(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
}

/** Attributes changed in place (the engine's update API), with the HostConfig fields each sets. */
export const UPDATE_FIELDS: Readonly<Record<string, readonly string[]>> = {
  // Not the per-device block I/O limits: the engine's update accepts them and keeps the old ones (seen on 20.10).
  blkioWeight: ['BlkioWeight'],
  pidsLimit: ['PidsLimit'],
  memorySwap: ['MemorySwap'],
  memoryReservation: ['MemoryReservation'],
  cpuShares: ['CpuShares'],
  cpusetCpus: ['CpusetCpus'],
};

/** "/dev/a[:/dev/b][:rwm]" as the engine stores it: host, container path (the host's when omitted), permissions (rwm when omitted). */
export function deviceOf(d: string): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string } {
  const [host = '', second, third] = d.split(':');
  const inContainer = second?.startsWith('/') ? second : host;
  const perms = second?.startsWith('/') ? third : second;
  return { PathOnHost: host, PathInContainer: inContainer, CgroupPermissions: perms || 'rwm' };
}
const deviceKey = (d: { PathOnHost?: string; PathInContainer?: string; CgroupPermissions?: string }): string =>
  `${d.PathOnHost ?? ''}:${d.PathInContainer ?? ''}:${d.CgroupPermissions ?? ''}`;

/** "host=1.2.3.4" and "host:1.2.3.4" are one entry; IPv6 addresses keep their colons. */
export function extraHostKey(h: string): string {
  const eq = h.indexOf('=');
  const colon = h.indexOf(':');
  const at = eq >= 0 && (colon < 0 || eq < colon) ? eq : colon;
  return `${h.slice(0, at)}:${h.slice(at + 1)}`;
}

const ulimitKey = (v: number | { soft: number; hard: number }): string => (typeof v === 'number' ? `${v}:${v}` : `${v.soft}:${v.hard}`);
const limitsKey = (l: readonly DeviceLimit[]): string[] => l.map((x) => `${x.path}=${bytes(x.rate)}`).sort();
const engineLimits = (l: unknown): string[] => ((l as { Path: string; Rate: number }[] | null) ?? []).map((x) => `${x.Path}=${x.Rate}`).sort();
const unlimited = (n: number | undefined | null): number => (n === undefined || n === null || n <= 0 ? -1 : n);
const swap = (v: number | string): number => (v === -1 || v === '-1' ? -1 : bytes(v));
const sorted = (l: readonly string[]): string[] => [...new Set(l)].sort();

/** A declared size against the engine's bytes, shown in the declared unit when equal. */
function sizeView(declared: string | number, engine: number): Json {
  return bytes(declared) === engine ? declared : engine === 0 ? 'not set' : engine;
}

/** The desired view of the declared host settings. */
export function hostDesired(a: A, v: Record<string, Json>): void {
  if (a.ulimits !== undefined)
    v.ulimits = Object.fromEntries(
      Object.entries(a.ulimits)
        .sort()
        .map(([k, x]) => [k, ulimitKey(x)]),
    );
  if (a.privileged !== undefined) v.privileged = a.privileged;
  if (a.tty !== undefined) v.tty = a.tty;
  if (a.stdinOpen !== undefined) v.stdinOpen = a.stdinOpen;
  if (a.securityOpt !== undefined) v.securityOpt = sorted(a.securityOpt);
  if (a.shmSize !== undefined) v.shmSize = a.shmSize;
  if (a.devices !== undefined) v.devices = sorted(a.devices.map((d) => deviceKey(deviceOf(d))));
  if (a.groupAdd !== undefined) v.groupAdd = sorted(a.groupAdd);
  if (a.pid !== undefined) v.pid = a.pid;
  if (a.ipc !== undefined) v.ipc = a.ipc;
  if (a.init !== undefined) v.init = a.init;
  if (a.extraHosts !== undefined) v.extraHosts = sorted(a.extraHosts.map(extraHostKey));
  if (a.blkioWeight !== undefined) v.blkioWeight = a.blkioWeight;
  if (a.deviceReadBps !== undefined) v.deviceReadBps = limitsKey(a.deviceReadBps);
  if (a.deviceWriteBps !== undefined) v.deviceWriteBps = limitsKey(a.deviceWriteBps);
  if (a.deviceReadIops !== undefined) v.deviceReadIops = limitsKey(a.deviceReadIops);
  if (a.deviceWriteIops !== undefined) v.deviceWriteIops = limitsKey(a.deviceWriteIops);
  if (a.pidsLimit !== undefined) v.pidsLimit = unlimited(a.pidsLimit);
  if (a.memorySwap !== undefined) v.memorySwap = a.memorySwap === -1 || a.memorySwap === '-1' ? -1 : a.memorySwap;
  if (a.memoryReservation !== undefined) v.memoryReservation = a.memoryReservation;
  if (a.cpuShares !== undefined) v.cpuShares = a.cpuShares;
  if (a.cpusetCpus !== undefined) v.cpusetCpus = a.cpusetCpus;
}

/** The engine's view of the declared host settings; `names` maps container ids to names (pid/ipc container:<id>). */
export function hostActual(a: A, c: Docker.ContainerInspectInfo, v: Record<string, Json>, names: Readonly<Record<string, string>>): void {
  const hc = c.HostConfig as HostConfig;
  const cfg = c.Config as Docker.ContainerInspectInfo['Config'] & { Tty?: boolean; OpenStdin?: boolean };
  const mode = (m: string | undefined): string => {
    const s = m ?? '';
    return s.startsWith('container:') && names[s.slice(10)] ? `container:${names[s.slice(10)]}` : s;
  };
  if (a.ulimits !== undefined) {
    const have = new Map(((hc.Ulimits ?? []) as { Name: string; Soft: number; Hard: number }[]).map((u) => [u.Name, `${u.Soft}:${u.Hard}`]));
    v.ulimits = Object.fromEntries(
      Object.keys(a.ulimits)
        .sort()
        .map((k) => [k, have.get(k) ?? 'not set']),
    );
  }
  if (a.privileged !== undefined) v.privileged = hc.Privileged ?? false;
  if (a.tty !== undefined) v.tty = cfg.Tty ?? false;
  if (a.stdinOpen !== undefined) v.stdinOpen = cfg.OpenStdin ?? false;
  if (a.securityOpt !== undefined) v.securityOpt = sorted((hc.SecurityOpt ?? []) as string[]);
  if (a.shmSize !== undefined) v.shmSize = sizeView(a.shmSize, Number(hc.ShmSize ?? 0));
  if (a.devices !== undefined)
    v.devices = sorted(((hc.Devices ?? []) as { PathOnHost: string; PathInContainer: string; CgroupPermissions: string }[]).map(deviceKey));
  if (a.groupAdd !== undefined) v.groupAdd = sorted((hc.GroupAdd ?? []) as string[]);
  if (a.pid !== undefined) v.pid = mode(hc.PidMode as string | undefined);
  if (a.ipc !== undefined) v.ipc = mode(hc.IpcMode as string | undefined);
  if (a.init !== undefined) v.init = (hc.Init as boolean | null | undefined) ?? false;
  if (a.extraHosts !== undefined) v.extraHosts = sorted(((hc.ExtraHosts ?? []) as string[]).map(extraHostKey));
  if (a.blkioWeight !== undefined) v.blkioWeight = Number(hc.BlkioWeight ?? 0);
  if (a.deviceReadBps !== undefined) v.deviceReadBps = engineLimits(hc.BlkioDeviceReadBps);
  if (a.deviceWriteBps !== undefined) v.deviceWriteBps = engineLimits(hc.BlkioDeviceWriteBps);
  if (a.deviceReadIops !== undefined) v.deviceReadIops = engineLimits(hc.BlkioDeviceReadIOps);
  if (a.deviceWriteIops !== undefined) v.deviceWriteIops = engineLimits(hc.BlkioDeviceWriteIOps);
  if (a.pidsLimit !== undefined) v.pidsLimit = unlimited(hc.PidsLimit as number | null | undefined);
  if (a.memorySwap !== undefined) {
    const s = Number(hc.MemorySwap ?? 0);
    v.memorySwap = s === -1 ? -1 : a.memorySwap === -1 || a.memorySwap === '-1' ? s : sizeView(a.memorySwap, s);
  }
  if (a.memoryReservation !== undefined) v.memoryReservation = sizeView(a.memoryReservation, Number(hc.MemoryReservation ?? 0));
  if (a.cpuShares !== undefined) v.cpuShares = Number(hc.CpuShares ?? 0) || 1024; // 0: the engine's default weight, 1024
  if (a.cpusetCpus !== undefined) v.cpusetCpus = String(hc.CpusetCpus ?? '');
}

/** The create options the host settings add: Config fields and HostConfig fields. */
export function hostCreate(a: A): { config: Record<string, unknown>; host: Record<string, unknown> } {
  const lim = (l: readonly DeviceLimit[] | undefined): { Path: string; Rate: number }[] | undefined => l?.map((x) => ({ Path: x.path, Rate: bytes(x.rate) }));
  const host: Record<string, unknown> = {
    ...(a.ulimits
      ? {
          Ulimits: Object.entries(a.ulimits).map(([Name, x]) => ({ Name, Soft: typeof x === 'number' ? x : x.soft, Hard: typeof x === 'number' ? x : x.hard })),
        }
      : {}),
    ...(a.privileged !== undefined ? { Privileged: a.privileged } : {}),
    ...(a.securityOpt ? { SecurityOpt: [...a.securityOpt] } : {}),
    ...(a.shmSize !== undefined ? { ShmSize: bytes(a.shmSize) } : {}),
    ...(a.devices ? { Devices: a.devices.map(deviceOf) } : {}),
    ...(a.groupAdd ? { GroupAdd: [...a.groupAdd] } : {}),
    ...(a.pid !== undefined ? { PidMode: a.pid } : {}),
    ...(a.ipc !== undefined ? { IpcMode: a.ipc } : {}),
    ...(a.init !== undefined ? { Init: a.init } : {}),
    ...(a.extraHosts ? { ExtraHosts: a.extraHosts.map(extraHostKey) } : {}),
    ...(a.blkioWeight !== undefined ? { BlkioWeight: a.blkioWeight } : {}),
    ...(a.deviceReadBps ? { BlkioDeviceReadBps: lim(a.deviceReadBps) } : {}),
    ...(a.deviceWriteBps ? { BlkioDeviceWriteBps: lim(a.deviceWriteBps) } : {}),
    ...(a.deviceReadIops ? { BlkioDeviceReadIOps: lim(a.deviceReadIops) } : {}),
    ...(a.deviceWriteIops ? { BlkioDeviceWriteIOps: lim(a.deviceWriteIops) } : {}),
    ...(a.pidsLimit !== undefined ? { PidsLimit: a.pidsLimit } : {}),
    ...(a.memorySwap !== undefined ? { MemorySwap: swap(a.memorySwap) } : {}),
    ...(a.memoryReservation !== undefined ? { MemoryReservation: bytes(a.memoryReservation) } : {}),
    ...(a.cpuShares !== undefined ? { CpuShares: a.cpuShares } : {}),
    ...(a.cpusetCpus !== undefined ? { CpusetCpus: a.cpusetCpus } : {}),
  };
  const config: Record<string, unknown> = {
    ...(a.tty !== undefined ? { Tty: a.tty } : {}),
    ...(a.stdinOpen !== undefined ? { OpenStdin: a.stdinOpen } : {}),
  };
  return { config, host };
}

/** Ids the engine reports in container:<id> modes (network, pid, ipc) of a container. */
export function referencedIds(c: Docker.ContainerInspectInfo): string[] {
  const hc = c.HostConfig as HostConfig;
  return [hc.NetworkMode, hc.PidMode, hc.IpcMode].filter((m): m is string => typeof m === 'string' && m.startsWith('container:')).map((m) => m.slice(10));
}

/**
 * What the engine silently discards on this host, so apply fails once and says so
 * instead of a plan that shows drift forever: block I/O weight on a kernel without a
 * weighting I/O scheduler.
 */
/** Whether `discarded` has anything to check: only then is the new container inspected again. */
export function mayBeDiscarded(a: A): boolean {
  return a.blkioWeight !== undefined;
}

export function discarded(a: A, c: Docker.ContainerInspectInfo): string | undefined {
  const hc = c.HostConfig as HostConfig;
  if (a.blkioWeight !== undefined && Number(hc.BlkioWeight ?? 0) === 0) {
    return 'the engine discarded blkioWeight: this kernel has no block I/O weight support (no BFQ scheduler, or the blkio cgroup is not mounted)';
  }
  return undefined;
}
