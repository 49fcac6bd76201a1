/**
 * `tsconverge import host`: a manifest for what runs now, so that a plan against it shows
 * no changes. Containers, networks and volumes (by name prefix), each attribute written
 * only where it differs from what the image or the engine would give by default: a
 * container's environment, labels, command, user and healthcheck only where they differ
 * from its image's; networks' engine-assigned subnets, default drivers and the default
 * networks (bridge, host, none) left out; anonymous volumes from an image's VOLUME left
 * out. Optionally the host settings tsconverge manages: DNS (resolv.conf), NTP (chrony.conf)
 * and the live sysctls under a prefix, read against --root; and with --users the accounts and SSH
 * keys under --root (src/import/users.ts). Objects tsconverge did not create are
 * marked `adopt: true`.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { createDockerClient, loadDockerode } from '../providers/docker/client.js';
import { capKey, formatDuration, restartKey } from '../providers/docker/container-spec.js';
import { bindsAsMounts, OWNER, OWNER_LABEL, tmpfsAsMounts, userLabels } from '../providers/docker/ownership.js';
import { normaliseValue } from '../providers/sysctl/sysctld.js';
import { parseResolvConf } from '../providers/dns/resolvconf.js';
import { parseChronyConf, type ChronySettings } from '../providers/ntp/chrony.js';
import { importUsers } from './users.js';

export interface HostImportOptions {
  readonly prefix?: string;
  readonly root?: string;
  readonly hostSettings?: boolean;
  readonly sysctlPrefix?: string;
  readonly adopt?: boolean;
  readonly docker?: Docker;
  /** Also the users, groups and SSH keys under root with a uid/gid of at least `minUid` (src/import/users.ts). */
  readonly users?: boolean;
  readonly minUid?: number;
  /** false: no Docker objects (a host of users and settings only); the engine is not asked. */
  readonly withDocker?: boolean;
}

export interface HostImport {
  readonly resources: readonly Record<string, unknown>[];
  readonly warnings: readonly string[];
}

type Obj = Record<string, unknown>;
const DEFAULT_NETWORKS = new Set(['bridge', 'host', 'none']);
const ANON = /^[0-9a-f]{64}$/;
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
const envPairs = (list: readonly string[] | null | undefined): Map<string, string> =>
  new Map((list ?? []).filter((e) => e.includes('=')).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));

function owned(labels: Readonly<Record<string, string>> | null | undefined): boolean {
  return (labels ?? {})[OWNER_LABEL] === OWNER;
}

interface Health {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}

function healthcheckOf(h: Health | undefined, image: Health | undefined): Obj | undefined {
  if (!h || same(h, image)) return undefined;
  if (h.Test?.[0] === 'NONE') return { disable: true };
  const out: Obj = {};
  if (h.Test) out.test = [...h.Test];
  if (h.Interval) out.interval = formatDuration(h.Interval);
  if (h.Timeout) out.timeout = formatDuration(h.Timeout);
  if (h.StartPeriod) out.startPeriod = formatDuration(h.StartPeriod);
  if (h.Retries) out.retries = h.Retries;
  return out;
}

/** One container as manifest attributes; only what differs from the image's and the engine's defaults. */
export function containerAttrs(
  c: Docker.ContainerInspectInfo,
  img: { Config?: Obj } | undefined,
  root: string,
  defaultLogDriver: string,
  warn: (m: string) => void,
): Obj {
  const name = c.Name.replace(/^\//, '');
  const ic = (img?.Config ?? {}) as {
    Env?: string[];
    Cmd?: string[];
    Entrypoint?: string[] | null;
    Labels?: Record<string, string>;
    User?: string;
    WorkingDir?: string;
    Healthcheck?: Health;
    Volumes?: Record<string, object>;
  };
  const hc = c.HostConfig as Docker.HostConfig & {
    Mounts?: { Type: string; Source?: string; Target: string; ReadOnly?: boolean; TmpfsOptions?: { SizeBytes?: number } }[];
    Tmpfs?: Record<string, string>;
    Sysctls?: Record<string, string>;
  };
  const a: Obj = { kind: 'docker.container', name, image: c.Config.Image };
  if (!c.State.Running) a.ensure = 'stopped';
  if (!same(c.Config.Cmd, ic.Cmd)) a.command = [...(c.Config.Cmd ?? [])];
  if (!same(c.Config.Entrypoint, ic.Entrypoint)) a.entrypoint = [...((c.Config.Entrypoint as string[] | null) ?? [])];
  const imageEnv = envPairs(ic.Env);
  const env = Object.fromEntries([...envPairs(c.Config.Env)].filter(([k, v]) => imageEnv.get(k) !== v));
  if (Object.keys(env).length) a.environment = env;
  const labels = Object.fromEntries(Object.entries(userLabels(c.Config.Labels)).filter(([k, v]) => ic.Labels?.[k] !== v));
  if (Object.keys(labels).length) a.labels = labels;
  const ports: Obj[] = [];
  for (const [port, binds] of Object.entries(hc.PortBindings ?? {})) {
    const [target, proto] = port.split('/');
    for (const b of (binds as { HostIp?: string; HostPort?: string }[] | null) ?? []) {
      ports.push({
        target: Number(target),
        ...(b.HostPort ? { published: Number(b.HostPort) } : {}),
        ...(b.HostIp ? { hostIp: b.HostIp } : {}),
        ...(proto && proto !== 'tcp' ? { protocol: proto } : {}),
      });
    }
  }
  if (ports.length) a.ports = ports;
  const rel = (p: string | undefined): string | undefined => (p && root !== '/' && p.startsWith(root + '/') ? '/' + path.relative(root, p) : p);
  const mounts: Obj[] = [
    ...[...(hc.Mounts ?? []), ...bindsAsMounts(hc.Binds), ...tmpfsAsMounts(hc.Tmpfs)].map((m) => ({
      type: m.Type,
      target: m.Target,
      // An anonymous volume (carried over by a recreate) is declared without its generated name.
      ...(m.Type === 'tmpfs' || (m.Type === 'volume' && ANON.test(m.Source ?? '')) ? {} : { source: m.Type === 'bind' ? rel(m.Source) : m.Source }),
      ...(m.ReadOnly ? { readOnly: true } : {}),
      ...((m as unknown as { TmpfsOptions?: { SizeBytes?: number } }).TmpfsOptions?.SizeBytes
        ? { tmpfsSize: (m as unknown as { TmpfsOptions: { SizeBytes: number } }).TmpfsOptions.SizeBytes }
        : {}),
    })),
    // Anonymous volumes the image does not declare were asked for (docker run -v /path, compose "- /path").
    ...(c.Mounts ?? [])
      .filter(
        (m) =>
          m.Type === 'volume' &&
          ANON.test(m.Name ?? '') &&
          !(m.Destination in (ic.Volumes ?? {})) &&
          !(hc.Mounts ?? []).some((x) => x.Target === m.Destination),
      )
      .map((m) => ({ type: 'volume', target: m.Destination })),
  ];
  const byTarget = new Map(mounts.map((m) => [m.target, m]));
  if (byTarget.size) a.mounts = [...byTarget.values()];
  const mode = hc.NetworkMode ?? 'default';
  if (mode === 'host' || mode === 'none' || mode.startsWith('container:'))
    warn(`docker.container[${name}]: network mode ${mode} cannot be expressed; declared without networks`);
  else {
    const nets = Object.entries(c.NetworkSettings.Networks ?? {});
    const engineAliases = new Set([c.Id.slice(0, 12), c.Config.Hostname]);
    if (!(nets.length === 1 && nets[0]![0] === 'bridge')) {
      a.networks = nets.map(([n, e]) => {
        const aliases = ((e.Aliases ?? []) as string[]).filter((x) => !engineAliases.has(x));
        return aliases.length ? { name: n, aliases: [...new Set(aliases)].sort() } : n;
      });
    }
  }
  const restart = restartKey(hc.RestartPolicy?.Name, hc.RestartPolicy?.MaximumRetryCount);
  if (restart !== 'no') a.restart = restart;
  if (hc.Memory) a.memory = hc.Memory;
  if (hc.NanoCpus) a.cpus = hc.NanoCpus / 1e9;
  const log = hc.LogConfig;
  if (log && (log.Type !== defaultLogDriver || Object.keys(log.Config ?? {}).length))
    a.logging = { driver: log.Type, ...(Object.keys(log.Config ?? {}).length ? { options: { ...log.Config } } : {}) };
  const health = healthcheckOf((c.Config as { Healthcheck?: Health }).Healthcheck, ic.Healthcheck);
  if (health) a.healthcheck = health;
  if (c.Config.Hostname && c.Config.Hostname !== c.Id.slice(0, 12)) a.hostname = c.Config.Hostname;
  if (hc.Dns?.length) a.dns = [...hc.Dns];
  if (hc.Sysctls && Object.keys(hc.Sysctls).length) a.sysctls = { ...hc.Sysctls };
  if ((c.Config.User ?? '') !== (ic.User ?? '')) a.user = c.Config.User;
  if ((c.Config.WorkingDir ?? '') !== (ic.WorkingDir ?? '') && c.Config.WorkingDir) a.workingDir = c.Config.WorkingDir;
  if (hc.CapAdd?.length) a.capAdd = (hc.CapAdd as string[]).map(capKey);
  if (hc.CapDrop?.length) a.capDrop = (hc.CapDrop as string[]).map(capKey);
  if (hc.ReadonlyRootfs) a.readOnly = true;
  const stopTimeout = (c.Config as { StopTimeout?: number }).StopTimeout;
  if (stopTimeout !== undefined && stopTimeout !== 10) a.stopTimeout = stopTimeout;
  return a;
}

export function networkAttrs(n: Docker.NetworkInspectInfo): Obj {
  const a: Obj = { kind: 'docker.network', name: n.Name };
  if (n.Driver !== 'bridge') a.driver = n.Driver;
  if (n.Internal) a.internal = true;
  if (n.Attachable) a.attachable = true;
  if (n.EnableIPv6) a.enableIPv6 = true;
  if (Object.keys(n.Options ?? {}).length) a.options = { ...n.Options };
  const labels = userLabels(n.Labels);
  if (Object.keys(labels).length) a.labels = labels;
  return a;
}

type VolumeInfo = { Name: string; Driver: string; Options?: Record<string, string> | null; Labels?: Record<string, string> | null };

export function volumeAttrs(v: VolumeInfo): Obj {
  const a: Obj = { kind: 'docker.volume', name: v.Name };
  if (v.Driver !== 'local') a.driver = v.Driver;
  if (Object.keys(v.Options ?? {}).length) a.options = { ...v.Options };
  const labels = userLabels(v.Labels);
  if (Object.keys(labels).length) a.labels = labels;
  return a;
}

/** A chrony source line ("host iburst maxpoll 10") as a server declaration. */
function sourceOf(line: string): Obj {
  const [host, ...rest] = line.split(' ');
  const options = rest.filter((o) => o !== 'iburst' && o !== 'prefer');
  return {
    host,
    ...(rest.includes('iburst') ? { iburst: true } : {}),
    ...(rest.includes('prefer') ? { prefer: true } : {}),
    ...(options.length ? { options: [options.join(' ')] } : {}),
  };
}

/** chrony.conf as an ntp resource; defaults are not assumed (iburst: false, so each source says). */
export function ntpFromChrony(c: ChronySettings, warn: (m: string) => void): Obj | null {
  if (c.driftfile === null) {
    warn('chrony.conf has no driftfile, which an ntp resource cannot express: NTP left out');
    return null;
  }
  return {
    kind: 'ntp',
    name: 'chrony',
    provider: 'chrony',
    iburst: false,
    ...(c.servers.length ? { servers: c.servers.map(sourceOf) } : {}),
    ...(c.pools.length ? { pools: c.pools.map(sourceOf) } : {}),
    makestep: c.makestep ?? false,
    allow: [...c.allow],
    driftfile: c.driftfile,
    rtcsync: c.rtcsync,
    ...(c.extraLines.length ? { extraLines: [...c.extraLines] } : {}),
  };
}

async function sysctls(prefix: string, warn: (m: string) => void): Promise<Obj[]> {
  const procSys = path.join(process.env.TSCONVERGE_PROC_ROOT ?? '/proc', 'sys');
  const start = path.join(procSys, ...prefix.replace(/\.$/, '').split('.').filter(Boolean));
  const out: Obj[] = [];
  const readKey = async (p: string): Promise<void> => {
    const key = path.relative(procSys, p).split(path.sep).join('.');
    if (!key.startsWith(prefix) || path.basename(p).includes('.')) return; // keys with dots in a segment (interface names) are left out
    try {
      if (((await stat(p)).mode & 0o200) === 0) return; // read-only: nothing to manage
      const value = normaliseValue(await readFile(p, 'utf8'));
      if (value !== '') out.push({ kind: 'sysctl', name: key, value, persist: false });
    } catch {
      /* write-only or unreadable keys are not settings to import */
    }
  };
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((x, y) => x.name.localeCompare(y.name))) {
      if (e.isDirectory()) await walk(path.join(dir, e.name));
      else await readKey(path.join(dir, e.name));
    }
  };
  let st;
  try {
    st = await stat(start);
  } catch {
    warn(`no sysctl keys under ${prefix} (${start})`);
    return out;
  }
  if (st.isDirectory()) await walk(start);
  else await readKey(start);
  return out;
}

export async function importHost(opts: HostImportOptions = {}): Promise<HostImport> {
  const root = path.resolve(opts.root ?? '/');
  const warnings: string[] = [];
  const warn = (m: string): void => {
    warnings.push(m);
  };
  const resources: Obj[] = opts.withDocker === false ? [] : await dockerObjects(opts, root, warn);
  if (opts.hostSettings) await hostSettings(opts, root, resources, warn);
  if (opts.users) resources.push(...(await importUsers({ root, minUid: opts.minUid }, warn)));
  return { resources, warnings };
}

/** Networks, volumes and containers (by name prefix), each attribute only where it differs from the default. */
async function dockerObjects(opts: HostImportOptions, root: string, warn: (m: string) => void): Promise<Obj[]> {
  await loadDockerode(); // import host is no hot path: it may use any read dockerode offers
  const docker = opts.docker ?? createDockerClient();
  const prefix = opts.prefix ?? '';
  const adopt = (labels: Readonly<Record<string, string>> | null | undefined): Obj => ((opts.adopt ?? true) && !owned(labels) ? { adopt: true } : {});
  const info = (await docker.info()) as { LoggingDriver?: string };
  const defaultLog = info.LoggingDriver ?? 'json-file';

  const networks = (await docker.listNetworks())
    .filter((n) => n.Name.startsWith(prefix) && !DEFAULT_NETWORKS.has(n.Name))
    .sort((a, b) => a.Name.localeCompare(b.Name));
  const volumes = (((await docker.listVolumes()).Volumes ?? []) as VolumeInfo[])
    .filter((v) => v.Name.startsWith(prefix) && !ANON.test(v.Name))
    .sort((a, b) => a.Name.localeCompare(b.Name));
  const list = (await docker.listContainers({ all: true })).filter((c) => (c.Names ?? []).some((n) => n.replace(/^\//, '').startsWith(prefix)));
  const inspected = await Promise.all(list.map((c) => docker.getContainer(c.Id).inspect()));
  const images = new Map<string, { Config?: Obj }>();
  await Promise.all(
    [...new Set(inspected.map((c) => c.Image))].map(async (id) => {
      try {
        images.set(id, (await docker.getImage(id).inspect()) as unknown as { Config?: Obj });
      } catch {
        warn(`image ${id.slice(7, 19)} is gone: container attributes are written in full`);
      }
    }),
  );
  return [
    ...networks.map((n) => ({ ...networkAttrs(n), ...adopt(n.Labels) })),
    ...volumes.map((v) => ({ ...volumeAttrs(v), ...adopt(v.Labels) })),
    ...inspected
      .sort((a, b) => a.Name.localeCompare(b.Name))
      .map((c) => ({ ...containerAttrs(c, images.get(c.Image), root, defaultLog, warn), ...adopt(c.Config.Labels) })),
  ];
}

/** DNS (resolv.conf), NTP (chrony.conf) and the live sysctls under a prefix, read against the root. */
async function hostSettings(opts: HostImportOptions, root: string, resources: Obj[], warn: (m: string) => void): Promise<void> {
  {
    const resolv = await readFile(path.join(root, 'etc/resolv.conf'), 'utf8').then(
      (t) => parseResolvConf(t),
      () => null,
    );
    if (resolv) {
      resources.push({ kind: 'dns', name: 'resolver', nameservers: [...resolv.nameservers], search: [...resolv.search], options: [...resolv.options] });
    } else warn(`no ${path.join(root, 'etc/resolv.conf')}: DNS left out`);
    const chrony = await readFile(path.join(root, 'etc/chrony/chrony.conf'), 'utf8').then(
      (t) => ntpFromChrony(parseChronyConf(t), warn),
      () => null,
    );
    if (chrony) resources.push(chrony);
    else warn(`no ${path.join(root, 'etc/chrony/chrony.conf')}: NTP left out (only chrony's configuration is imported)`);
    resources.push(...(await sysctls(opts.sysctlPrefix ?? 'net.', warn)));
  }
}
