/**
 * docker.container, the pure half: turning manifest attributes into (1) the
 * normalised desired view, (2) the same view of what the engine reports, and (3) the
 * engine's create options. Values are canonicalised on both sides (sizes in bytes,
 * durations as "30s", sets sorted) so the engine's defaults and ordering are never drift.
 */
import path from 'node:path';
import type Docker from 'dockerode';
import type { Json, View } from '../types.js';
import { ownerLabels, userLabels } from './ownership.js';
import { anonymousAt, bindsAsMounts, tmpfsAsMounts } from './ownership.js';
import type { DockerContainer } from '../../generated/kinds.js';
import { hostActual, hostCreate, hostDesired } from './container-host.js';

export type ContainerAttrs = Omit<DockerContainer, 'kind' | 'name' | 'require' | 'before' | 'notify' | 'subscribe'>;

/** What the container provider reads for one resource. */
export interface ObservedContainer {
  readonly info: Docker.ContainerInspectInfo;
  /** Local id of the image the manifest names, if present. */
  readonly desiredImageId?: string;
  /** Env and labels the image itself sets: not drift. */
  readonly imageEnv: readonly string[];
  readonly imageLabels: Readonly<Record<string, string>>;
  /** Names of the containers its container:<id> modes (network, pid, ipc) name, so the view compares names. */
  readonly containerNames?: Readonly<Record<string, string>>;
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** "64m", "64MiB", "1.5g", 1048576 -> bytes. */
export function parseSize(v: string | number): number {
  if (typeof v === 'number') return v;
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([kmgtb]?)(?:ib|i|b)?$/i.exec(v.trim());
  if (!m) throw new Error(`not a size: ${v}`);
  return Math.round(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
}

/**
 * Bytes written the way the manifest declares the size, so a plan reads `64Mi -> 32Mi`,
 * not bytes: the declared text itself when equal, else the same unit when exact.
 */
export function sizeAsDeclared(declared: string | number, bytes: number): string | number {
  if (parseSize(declared) === bytes) return declared;
  if (bytes === 0) return 'no limit';
  if (typeof declared === 'number') return bytes;
  const unit = declared.trim().replace(/^[0-9.\s]+/, '');
  const per = unit ? parseSize('1' + unit) : 1;
  return bytes % per === 0 ? `${bytes / per}${unit}` : `${bytes} bytes`;
}

const DUR_NS: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** "1m30s" -> 90e9 ns. */
export function parseDuration(v: string): number {
  let total = 0;
  for (const m of v.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)/g)) total += Number(m[1]) * DUR_NS[m[2]!]!;
  return Math.round(total);
}

/** 90e9 ns -> "90s"; 500e6 -> "500ms". */
export function formatDuration(ns: number): string {
  if (ns % 1e9 === 0) return `${ns / 1e9}s`;
  if (ns % 1e6 === 0) return `${ns / 1e6}ms`;
  return `${ns}ns`;
}

/** Split a command string into words like a shell would (quotes, backslashes), without running one. */
export function splitWords(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: '"' | "'" | undefined;
  let has = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else cur += c;
  }
  if (has || cur) out.push(cur);
  return out;
}

export function envMap(env: ContainerAttrs['environment']): Record<string, string> {
  if (!env) return {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
}

function envFromList(list: readonly string[] | null | undefined): Record<string, string> {
  return envMap([...(list ?? [])].filter((e) => e.includes('=')));
}

/** Canonical "hostIp:published:target/proto" for a port, declared or reported. */
export function portKey(p: string | { target: number; published?: number; hostIp?: string; protocol?: string }): string {
  if (typeof p === 'string') {
    const [spec, proto = 'tcp'] = p.split('/');
    const m = /^(?:(\[[^\]]+\]|[0-9]+\.[0-9.]+):)?(?:([0-9]*):)?([0-9]+)$/.exec(spec!);
    if (!m) return p;
    return `${m[1]?.replace(/^\[|\]$/g, '') ?? ''}:${m[2] ?? ''}:${m[3]}/${proto}`;
  }
  return `${p.hostIp ?? ''}:${p.published ?? ''}:${p.target}/${p.protocol ?? 'tcp'}`;
}

export function capKey(c: string): string {
  const u = c.toUpperCase();
  return u === 'ALL' || u.startsWith('CAP_') ? u : `CAP_${u}`;
}

export function restartKey(name: string | undefined, max: number | undefined): string {
  if (!name || name === 'no') return 'no';
  return name === 'on-failure' && max ? `on-failure:${max}` : name;
}

type MountAttr = NonNullable<ContainerAttrs['mounts']>[number];
type NetAttr = NonNullable<ContainerAttrs['networks']>[number];

/**
 * Bind-mount sources resolved through the confined file system (ctx.fs.resolve: no
 * `..`, no symlink out of the root), keyed by the declared source. createOptions takes
 * only sources found here, so a bind mount cannot reach outside the root.
 */
export type BindSources = ReadonlyMap<string, string>;

export async function resolveBindSources(attrs: ContainerAttrs, resolve: (p: string) => Promise<string>): Promise<BindSources> {
  const out = new Map<string, string>();
  for (const m of attrs.mounts ?? []) if (m.type === 'bind') out.set(m.source ?? '', await resolve(m.source ?? ''));
  return out;
}

function bindSource(binds: BindSources, source: string): string {
  const real = binds.get(source);
  if (real === undefined) throw new Error(`bind source ${source} was not resolved through the root`);
  return real;
}

function mountKey(m: { type: string; source?: string; target: string; readOnly?: boolean }): string {
  return `${m.type}:${m.source ?? ''}:${m.target}${m.readOnly ? ':ro' : ''}`;
}

export function healthTest(t: string | string[]): string[] {
  if (typeof t === 'string') return ['CMD-SHELL', t];
  return ['CMD', 'CMD-SHELL', 'NONE'].includes(t[0] ?? '') ? [...t] : ['CMD', ...t];
}

export interface NetView {
  name: string;
  aliases: string[];
  ipv4Address?: string;
  ipv6Address?: string;
}

function networksOf(attrs: ContainerAttrs): NetView[] {
  return (attrs.networks ?? [])
    .map((n: NetAttr): NetView =>
      typeof n === 'string'
        ? { name: n, aliases: [] }
        : {
            name: n.name,
            aliases: [...(n.aliases ?? [])].sort(),
            ...(n.ipv4Address !== undefined ? { ipv4Address: n.ipv4Address } : {}),
            ...(n.ipv6Address !== undefined ? { ipv6Address: n.ipv6Address } : {}),
          },
    )
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The endpoint settings of a declared network: aliases and static addresses. */
export function endpointConfig(n: NetView, withoutAliases = false): { Aliases: string[]; IPAMConfig?: { IPv4Address?: string; IPv6Address?: string } } {
  const ipam = { ...(n.ipv4Address ? { IPv4Address: n.ipv4Address } : {}), ...(n.ipv6Address ? { IPv6Address: n.ipv6Address } : {}) };
  return { Aliases: withoutAliases ? [] : n.aliases, ...(Object.keys(ipam).length ? { IPAMConfig: ipam } : {}) };
}

const short = (id: string | undefined): string => (id ?? '').replace(/^sha256:/, '').slice(0, 12);

export function commandOf(v: string | string[]): string[] {
  return typeof v === 'string' ? splitWords(v) : [...v];
}

/** The normalised desired view: only attributes the manifest declares. */
export function desiredView(attrs: ContainerAttrs, desiredImageId: string | undefined, exists: boolean): View {
  const v: Record<string, Json> = {};
  const a = attrs;
  if (a.ensure !== 'absent') v.ensure = a.ensure ?? 'running';
  v.image = !exists ? a.image : `${a.image} (${desiredImageId ? short(desiredImageId) : 'not present locally, will be pulled'})`;
  if (a.command !== undefined) v.command = commandOf(a.command);
  if (a.entrypoint !== undefined) v.entrypoint = commandOf(a.entrypoint);
  if (a.environment !== undefined) v.environment = envMap(a.environment);
  if (a.labels !== undefined) v.labels = { ...a.labels };
  if (a.ports !== undefined) v.ports = [...new Set(a.ports.map(portKey))].sort();
  if (a.mounts !== undefined) v.mounts = a.mounts.map((m: MountAttr) => mountKey(m)).sort();
  if (a.networks !== undefined) v.networks = networksOf(a) as unknown as Json;
  if (a.networkMode !== undefined) v.networkMode = a.networkMode;
  if (a.restart !== undefined) v.restart = a.restart;
  if (a.memory !== undefined) v.memory = a.memory;
  if (a.cpus !== undefined) v.cpus = a.cpus;
  if (a.logging !== undefined)
    v.logging = { ...(a.logging.driver ? { driver: a.logging.driver } : {}), ...(a.logging.options ? { options: { ...a.logging.options } } : {}) };
  if (a.healthcheck !== undefined) v.healthcheck = healthView(a.healthcheck);
  if (a.hostname !== undefined) v.hostname = a.hostname;
  if (a.dns !== undefined) v.dns = [...a.dns];
  if (a.sysctls !== undefined) v.sysctls = { ...a.sysctls };
  if (a.user !== undefined) v.user = a.user;
  if (a.workingDir !== undefined) v.workingDir = a.workingDir;
  if (a.capAdd !== undefined) v.capAdd = [...new Set(a.capAdd.map(capKey))].sort();
  if (a.capDrop !== undefined) v.capDrop = [...new Set(a.capDrop.map(capKey))].sort();
  if (a.readOnly !== undefined) v.readOnly = a.readOnly;
  hostDesired(a, v);
  return v;
}

function healthView(h: NonNullable<ContainerAttrs['healthcheck']>): Record<string, Json> {
  if (h.disable) return { test: ['NONE'] };
  const out: Record<string, Json> = {};
  if (h.test !== undefined) out.test = healthTest(h.test);
  if (h.interval !== undefined) out.interval = formatDuration(parseDuration(h.interval));
  if (h.timeout !== undefined) out.timeout = formatDuration(parseDuration(h.timeout));
  if (h.startPeriod !== undefined) out.startPeriod = formatDuration(parseDuration(h.startPeriod));
  if (h.retries !== undefined) out.retries = h.retries;
  return out;
}

/** The engine's state, in the desired view's shape, for the attributes the manifest declares. */
export function actualView(attrs: ContainerAttrs, o: ObservedContainer, root: string): View {
  const c = o.info;
  const hc = c.HostConfig as Docker.HostConfig & { Mounts?: { Type: string; Source?: string; Target: string; ReadOnly?: boolean }[] };
  const v: Record<string, Json> = {};
  const a = attrs;
  if (a.ensure !== 'absent') v.ensure = c.State.Running ? 'running' : 'stopped';
  const same = o.desiredImageId !== undefined && o.desiredImageId === c.Image;
  v.image = `${same ? a.image : c.Config.Image} (${short(c.Image)})`;
  if (a.command !== undefined) v.command = [...(c.Config.Cmd ?? [])];
  if (a.entrypoint !== undefined) v.entrypoint = [...((c.Config.Entrypoint as string[] | null) ?? [])];
  if (a.environment !== undefined) {
    const desired = envMap(a.environment);
    const image = envFromList(o.imageEnv);
    const env: Record<string, string> = {};
    for (const [k, val] of Object.entries(envFromList(c.Config.Env))) if (k in desired || image[k] !== val) env[k] = val;
    v.environment = env;
  }
  if (a.labels !== undefined) {
    const labels: Record<string, string> = {};
    for (const [k, val] of Object.entries(userLabels(c.Config.Labels))) if (k in (a.labels ?? {}) || o.imageLabels[k] !== val) labels[k] = val;
    v.labels = labels;
  }
  if (a.ports !== undefined) {
    const keys: string[] = [];
    for (const [port, binds] of Object.entries(hc.PortBindings ?? {})) {
      const [target, proto] = port.split('/');
      for (const b of (binds as { HostIp?: string; HostPort?: string }[] | null) ?? [{}]) keys.push(`${b.HostIp ?? ''}:${b.HostPort ?? ''}:${target}/${proto}`);
    }
    v.ports = [...new Set(keys)].sort();
  }
  if (a.mounts !== undefined) {
    // Mounts, plus -v style Binds (docker run, docker-compose 1.x) and the anonymous volumes at declared targets.
    const anonTargets = new Set(a.mounts.filter((m) => m.type === 'volume' && !m.source).map((m) => m.target));
    v.mounts = [
      ...new Set(
        [
          ...(hc.Mounts ?? []),
          ...bindsAsMounts(hc.Binds),
          ...tmpfsAsMounts((hc as { Tmpfs?: Record<string, string> }).Tmpfs),
          ...anonymousAt(c.Mounts as never, anonTargets),
        ]
          .filter((m) => !(m.Type === 'volume' && /^[0-9a-f]{64}$/.test(m.Source ?? ''))) // anonymous volumes carried over
          .map((m) =>
            mountKey({
              type: m.Type,
              source:
                m.Type === 'bind' && root !== '/' && m.Source?.startsWith(root)
                  ? '/' + path.relative(root, m.Source)
                  : m.Type === 'tmpfs'
                    ? undefined
                    : m.Source,
              target: m.Target,
              readOnly: m.ReadOnly,
            }),
          ),
      ),
    ].sort(); // a declared anonymous volume shows both in Mounts (sourceless) and as mounted: once
  }
  if (a.networks !== undefined) {
    // The engine adds the short id, and the hostname when one is set, as aliases: defaults, not drift.
    const engineAliases = new Set([c.Id.slice(0, 12), c.Config.Hostname]);
    const decl = new Map(networksOf(a).map((n) => [n.name, n]));
    v.networks = Object.entries(c.NetworkSettings.Networks ?? {})
      .map(([name, n]) => {
        const d = decl.get(name);
        const ipam = (n as { IPAMConfig?: { IPv4Address?: string; IPv6Address?: string } | null }).IPAMConfig ?? {};
        return {
          name,
          aliases: [...new Set(((n.Aliases ?? []) as string[]).filter((x) => !engineAliases.has(x) || d?.aliases.includes(x)))].sort(),
          // static addresses: compared where declared (an address the engine picked is not drift)
          ...(d?.ipv4Address !== undefined ? { ipv4Address: ipam.IPv4Address ?? '' } : {}),
          ...(d?.ipv6Address !== undefined ? { ipv6Address: ipam.IPv6Address ?? '' } : {}),
        };
      })
      .sort((x, y) => x.name.localeCompare(y.name));
  }
  if (a.networkMode !== undefined) {
    const mode = hc.NetworkMode ?? '';
    const other = mode.startsWith('container:') ? o.containerNames?.[mode.slice('container:'.length)] : undefined;
    v.networkMode = mode === 'default' ? 'bridge' : other ? `container:${other}` : mode;
  }
  if (a.restart !== undefined) v.restart = restartKey(hc.RestartPolicy?.Name, hc.RestartPolicy?.MaximumRetryCount);
  if (a.memory !== undefined) v.memory = sizeAsDeclared(a.memory, hc.Memory ?? 0);
  if (a.cpus !== undefined) v.cpus = (hc.NanoCpus ?? 0) / 1e9;
  if (a.logging !== undefined) {
    const opts = (hc.LogConfig?.Config ?? {}) as Record<string, string>;
    v.logging = {
      ...(a.logging.driver ? { driver: hc.LogConfig?.Type ?? '' } : {}),
      ...(a.logging.options
        ? {
            options: Object.fromEntries(
              Object.keys(a.logging.options)
                .filter((k) => k in opts)
                .map((k) => [k, opts[k]!]),
            ),
          }
        : {}),
    };
  }
  if (a.healthcheck !== undefined) {
    const h =
      (c.Config as { Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; Retries?: number } }).Healthcheck ?? {};
    const want = a.healthcheck;
    const out: Record<string, Json> = {};
    if (want.disable || want.test !== undefined) out.test = [...(h.Test ?? [])];
    if (!want.disable) {
      if (want.interval !== undefined) out.interval = formatDuration(h.Interval ?? 0);
      if (want.timeout !== undefined) out.timeout = formatDuration(h.Timeout ?? 0);
      if (want.startPeriod !== undefined) out.startPeriod = formatDuration(h.StartPeriod ?? 0);
      if (want.retries !== undefined) out.retries = h.Retries ?? 0;
    }
    v.healthcheck = out;
  }
  if (a.hostname !== undefined) v.hostname = c.Config.Hostname;
  if (a.dns !== undefined) v.dns = [...(hc.Dns ?? [])];
  if (a.sysctls !== undefined) v.sysctls = { ...((hc as { Sysctls?: Record<string, string> }).Sysctls ?? {}) };
  if (a.user !== undefined) v.user = c.Config.User ?? '';
  if (a.workingDir !== undefined) v.workingDir = c.Config.WorkingDir ?? '';
  if (a.capAdd !== undefined) v.capAdd = [...new Set(((hc.CapAdd ?? []) as string[]).map(capKey))].sort();
  if (a.capDrop !== undefined) v.capDrop = [...new Set(((hc.CapDrop ?? []) as string[]).map(capKey))].sort();
  if (a.readOnly !== undefined) v.readOnly = hc.ReadonlyRootfs ?? false;
  hostActual(a, c, v, o.containerNames ?? {});
  return v;
}

/** Anonymous volumes an old container holds, to hand over to its replacement. */
export function anonymousVolumes(info: Docker.ContainerInspectInfo): { name: string; target: string }[] {
  return (info.Mounts ?? []).filter((m) => m.Type === 'volume' && /^[0-9a-f]{64}$/.test(m.Name ?? '')).map((m) => ({ name: m.Name!, target: m.Destination }));
}

/** Create options for the Docker engine. The first network is joined at create; others are connected before start. */
export function createOptions(
  id: string,
  name: string,
  attrs: ContainerAttrs,
  binds: BindSources,
  carry: readonly { name: string; target: string }[],
): Docker.ContainerCreateOptions {
  const a = attrs;
  const ports = (a.ports ?? []).map(portKey);
  const exposed: Record<string, object> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const k of ports) {
    const [, hostIp = '', published = '', rest = ''] = /^(.*):([0-9]*):([0-9]+\/\w+)$/.exec(k) ?? [];
    exposed[rest] = {};
    (bindings[rest] ??= []).push({ HostIp: hostIp, HostPort: published });
  }
  const declaredTargets = new Set((a.mounts ?? []).map((m: MountAttr) => m.target));
  const carried = new Map(carry.map((c) => [c.target, c.name]));
  const mounts = [
    ...(a.mounts ?? []).map((m: MountAttr) => ({
      Type: m.type,
      Target: m.target,
      // A declared anonymous volume (no source) keeps the old container's data on replace.
      ...(m.type === 'tmpfs' ? {} : { Source: m.type === 'bind' ? bindSource(binds, m.source ?? '') : (m.source ?? carried.get(m.target)) }),
      ReadOnly: m.readOnly ?? false,
      ...(m.type === 'tmpfs' && m.tmpfsSize !== undefined ? { TmpfsOptions: { SizeBytes: parseSize(m.tmpfsSize) } } : {}),
    })),
    ...carry.filter((c) => !declaredTargets.has(c.target)).map((c) => ({ Type: 'volume', Source: c.name, Target: c.target, ReadOnly: false })),
  ];
  const nets = networksOf(a);
  const [restartName, restartMax] = (a.restart ?? 'no').split(':');
  const memory = a.memory !== undefined ? parseSize(a.memory) : undefined;
  const hc = a.healthcheck;
  const host = hostCreate(a);
  return {
    name,
    Image: a.image,
    ...(a.command !== undefined ? { Cmd: commandOf(a.command) } : {}),
    ...(a.entrypoint !== undefined ? { Entrypoint: commandOf(a.entrypoint) } : {}),
    Env: Object.entries(envMap(a.environment)).map(([k, v]) => `${k}=${v}`),
    Labels: { ...(a.labels ?? {}), ...ownerLabels(id) },
    ...(a.hostname !== undefined ? { Hostname: a.hostname } : {}),
    ...(a.user !== undefined ? { User: a.user } : {}),
    ...(a.workingDir !== undefined ? { WorkingDir: a.workingDir } : {}),
    ExposedPorts: exposed,
    StopTimeout: a.stopTimeout ?? 10,
    ...host.config,
    ...(hc !== undefined
      ? {
          Healthcheck: hc.disable
            ? { Test: ['NONE'] }
            : {
                ...(hc.test !== undefined ? { Test: healthTest(hc.test) } : {}),
                ...(hc.interval ? { Interval: parseDuration(hc.interval) } : {}),
                ...(hc.timeout ? { Timeout: parseDuration(hc.timeout) } : {}),
                ...(hc.startPeriod ? { StartPeriod: parseDuration(hc.startPeriod) } : {}),
                ...(hc.retries !== undefined ? { Retries: hc.retries } : {}),
              },
        }
      : {}),
    HostConfig: {
      PortBindings: bindings,
      Mounts: mounts as Docker.MountConfig,
      RestartPolicy: { Name: restartName === 'no' ? '' : restartName!, MaximumRetryCount: restartMax ? Number(restartMax) : 0 },
      ...(memory !== undefined ? { Memory: memory, MemorySwap: memory * 2 } : {}),
      ...(a.cpus !== undefined ? { NanoCpus: Math.round(a.cpus * 1e9) } : {}),
      ...(a.logging ? { LogConfig: { Type: a.logging.driver ?? '', Config: { ...(a.logging.options ?? {}) } } } : {}),
      ...(a.dns ? { Dns: [...a.dns] } : {}),
      ...(a.sysctls ? { Sysctls: { ...a.sysctls } } : {}),
      ...(a.capAdd ? { CapAdd: a.capAdd.map(capKey) } : {}),
      ...(a.capDrop ? { CapDrop: a.capDrop.map(capKey) } : {}),
      ...(a.readOnly !== undefined ? { ReadonlyRootfs: a.readOnly } : {}),
      ...(a.networkMode !== undefined ? { NetworkMode: a.networkMode } : nets[0] ? { NetworkMode: nets[0].name } : {}),
      ...host.host,
    },
    ...(nets[0] && a.networkMode === undefined ? { NetworkingConfig: { EndpointsConfig: { [nets[0].name]: endpointConfig(nets[0]) } } } : {}),
  };
}

/** Declared networks, sorted by name, each with its sorted aliases. */
export function declaredNetworks(attrs: ContainerAttrs): NetView[] {
  return networksOf(attrs);
}

export function extraNetworks(attrs: ContainerAttrs): NetView[] {
  return networksOf(attrs).slice(1);
}
