/**
 * `tsconverge import compose FILE...`: a Compose project as a tsconverge manifest.
 *
 * The names, labels, networks, aliases and defaults are the ones docker-compose gives
 * the objects it makes (1.29: containers `<project>_<service>_1`, networks and volumes
 * `<project>_<name>`, the service name as an alias on every network), so the manifest,
 * applied where the stack already runs under Compose, adopts the running containers
 * (every resource carries `adopt: true`) instead of recreating them. Every key that a
 * manifest cannot express is a warning naming its file, line and column.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isAlias, isMap, isScalar, isSeq, type Node, type YAMLMap } from 'yaml';
import { ManifestErrors, TsconvergeError } from '../core/errors.js';
import { formatWarning, loadComposeFiles, loadExtendsFile, locate, parseEnvFile, type ComposeFile, type ImportWarning } from './compose-load.js';
import { listToMap, mergeMarked, mergeService, networksMap } from './compose-merge.js';
import { stripMarkers } from './compose-yaml.js';
import { reportKnockOn } from './compose-knock.js';
import { containerFor, type ProjectContext } from './compose-service.js';

export interface ComposeImportOptions {
  readonly projectName?: string;
  readonly profiles?: readonly string[];
  /** Variables for interpolation; the project's .env fills in what is not set here. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** A .env file other than <project dir>/.env. */
  readonly envFile?: string;
  /** Container names as docker-compose 1.x (`p_s_1`, the default) or Compose v2 (`p-s-1`) makes them. */
  readonly containerNames?: 'v1' | 'v2';
  /** Mark every resource `adopt: true` (default), so apply takes over what Compose made. */
  readonly adopt?: boolean;
}

export interface ComposeImport {
  readonly project: string;
  readonly resources: readonly Record<string, unknown>[];
  readonly warnings: readonly ImportWarning[];
}

type Obj = Record<string, unknown>;
type Seg = string | number;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** What a manifest can express: true = the whole subtree; an object = these keys; '*' = any key. */
type Spec = true | { readonly [k: string]: Spec };
const T = true;
const SERVICE: Spec = {
  image: T,
  build: { context: T, dockerfile: T, target: T, args: T, network: T },
  container_name: T,
  command: T,
  entrypoint: T,
  environment: T,
  env_file: T,
  labels: T,
  ports: T,
  volumes: T,
  tmpfs: T,
  networks: { '*': { aliases: T, ipv4_address: T, ipv6_address: T } },
  network_mode: T,
  restart: T,
  mem_limit: T,
  cpus: T,
  ulimits: T,
  privileged: T,
  tty: T,
  stdin_open: T,
  security_opt: T,
  shm_size: T,
  devices: T,
  group_add: T,
  pid: T,
  ipc: T,
  init: T,
  extra_hosts: T,
  blkio_config: { weight: T, device_read_bps: T, device_write_bps: T, device_read_iops: T, device_write_iops: T },
  pids_limit: T,
  memswap_limit: T,
  mem_reservation: T,
  cpu_shares: T,
  cpuset: T,
  logging: T,
  healthcheck: T,
  hostname: T,
  dns: T,
  sysctls: T,
  user: T,
  working_dir: T,
  cap_add: T,
  cap_drop: T,
  read_only: T,
  stop_grace_period: T,
  depends_on: { '*': { condition: T, restart: T, required: T } },
  configs: T,
  secrets: T,
  profiles: T,
  extends: T,
  deploy: { resources: { limits: { memory: T, cpus: T, pids: T }, reservations: { memory: T } }, restart_policy: { condition: T, max_attempts: T } },
};
const TOP: Spec = {
  version: T,
  name: T,
  include: T,
  services: { '*': SERVICE },
  networks: { '*': { driver: T, driver_opts: T, internal: T, attachable: T, enable_ipv6: T, labels: T, name: T, external: T, ipam: { config: T, driver: T } } },
  volumes: { '*': { driver: T, driver_opts: T, labels: T, name: T, external: T } },
  configs: { '*': { file: T, name: T, external: T } },
  secrets: { '*': { file: T, name: T, external: T } },
};

/** Why a key that is not carried over is dropped: Compose-only and Swarm-only keys say so. */
export function whyDropped(at: readonly Seg[]): string {
  const [top, , key, sub] = at;
  if (top === 'services' && key === 'build' && sub === 'secrets')
    return "build secrets need BuildKit, and tsconverge builds through the engine API's classic builder; dropped (a Dockerfile that mounts them fails to build)";
  if (top === 'services' && key === 'build')
    return `build.${String(sub)} cannot be expressed (tsconverge builds with context, dockerfile, target, args and network); ignored`;
  if (top === 'services' && key === 'develop') return 'Compose-only (files watched and synced while developing): nothing a host runs; ignored';
  if (top === 'services' && key === 'deploy' && sub === 'resources') return 'cannot be expressed in a tsconverge manifest; ignored';
  if (top === 'services' && key === 'deploy') return `Swarm-only (deploy.${String(sub)}): a single host has no replicas, placement or rolling update; ignored`;
  if (
    top === 'services' &&
    (key === 'scale' ||
      key === 'pull_policy' ||
      key === 'attach' ||
      key === 'post_start' ||
      key === 'pre_stop' ||
      key === 'provider' ||
      key === 'models' ||
      key === 'use_api_socket' ||
      key === 'label_file' ||
      key === 'annotations' ||
      key === 'pull_refresh_after')
  )
    return `Compose-only (${String(key)}): what the compose command does, not a container setting; ignored`;
  if (top === 'models') return 'Compose-only (AI models run by Docker Model Runner); ignored';
  return 'cannot be expressed in a tsconverge manifest; ignored';
}

const isMergeKey = (k: unknown): boolean => (isScalar(k) ? k.value === '<<' || typeof k.value === 'symbol' : k === '<<');

function walkUnsupported(f: ComposeFile, node: unknown, spec: Spec, at: Seg[], warn: (w: ImportWarning) => void): void {
  if (spec === true || !isMap(node)) return;
  for (const pair of (node as YAMLMap).items) {
    if (isMergeKey(pair.key)) {
      // `<<: *fragment` (or a list of them): the fragment's keys are this map's keys, reported where the fragment says them.
      const sources = isSeq(pair.value) ? pair.value.items : [pair.value];
      for (const src of sources) walkUnsupported(f, isAlias(src) ? src.resolve(f.doc) : src, spec, at, warn);
      continue;
    }
    const key = String((pair.key as { value?: unknown } | null)?.value ?? pair.key);
    if (key.startsWith('x-')) continue; // extension fields: anchors' templates
    const sub = spec[key] ?? spec['*'];
    if (sub === undefined) {
      const pos = (pair.key as Node | null)?.range ? f.lines.linePos((pair.key as Node).range![0]) : undefined;
      warn({ file: f.file, ...(pos ? { line: pos.line, column: pos.col } : {}), key: [...at, key].join('.'), message: whyDropped([...at, key]) });
    } else walkUnsupported(f, pair.value, sub, [...at, key], warn);
  }
}

/** Compose's project name rule: lower case, only [a-z0-9_-]. */
export function normaliseProject(name: string): string {
  return name.toLowerCase().replace(/[^-_a-z0-9]/g, '');
}

/** A short port ("127.0.0.1:8000-8001:80-81/udp") as tsconverge port strings. */
export function expandPort(p: unknown, warnAt: (msg: string) => void): string[] {
  if (isObj(p)) {
    const proto = p.protocol && p.protocol !== 'tcp' ? `/${String(p.protocol)}` : '';
    const ip = p.host_ip ? `${String(p.host_ip)}:` : '';
    if (p.mode === 'host' || p.mode === undefined) {
      /* fine */
    } else warnAt(`mode ${String(p.mode)} is swarm-only; published as a normal port`);
    return [p.published !== undefined ? `${ip}${String(p.published)}:${String(p.target)}${proto}` : `${ip ? ip + ':' : ''}${String(p.target)}${proto}`];
  }
  const s = String(p);
  const [spec, proto] = s.split('/');
  const suffix = proto && proto !== 'tcp' ? `/${proto}` : '';
  const m = /^(?:(\[[^\]]+\]|[0-9]+\.[0-9.]+):)?(?:([0-9-]*):)?([0-9]+(?:-[0-9]+)?)$/.exec(spec!);
  if (!m) {
    warnAt(`port "${s}" not understood; ignored`);
    return [];
  }
  const [, ip, host = '', target] = m;
  const range = (r: string): number[] => {
    const [a, b = a] = r.split('-').map(Number);
    return Array.from({ length: b! - a! + 1 }, (_, i) => a! + i);
  };
  const targets = range(target!);
  const hosts = host ? range(host) : [];
  if (hosts.length && hosts.length !== targets.length) {
    warnAt(`port "${s}": a host range for a single container port cannot be expressed; ignored`);
    return [];
  }
  return targets.map((t, i) => {
    const h = hosts.length ? String(hosts[i]) : '';
    return `${ip ? `${ip}:${h}:` : h ? `${h}:` : ''}${t}${suffix}`;
  });
}

const stringMap = (v: unknown): Record<string, string> => Object.fromEntries(Object.entries(listToMap(v)).map(([k, x]) => [k, String(x ?? '')]));

/** A top-level network as docker.network; docker-compose 1.x makes its networks attachable. */
function networkResource(key: string, n: Obj, name: string, at: (segs: Seg[], message: string) => void): Record<string, unknown> {
  const r: Record<string, unknown> = { kind: 'docker.network', name };
  if (n.driver === 'overlay')
    at(
      ['networks', key, 'driver'],
      'overlay is a Swarm driver: a single host without Swarm cannot create it; declared as a bridge network on this host (containers on other hosts will not reach it)',
    );
  else if (n.driver !== undefined) r.driver = String(n.driver);
  if (n.internal !== undefined) r.internal = Boolean(n.internal);
  r.attachable = n.attachable !== undefined ? Boolean(n.attachable) : true;
  if (n.enable_ipv6 !== undefined) r.enableIPv6 = Boolean(n.enable_ipv6);
  const ipam = (n.ipam ?? {}) as Obj;
  if (ipam.driver !== undefined && ipam.driver !== 'default')
    at(['networks', key, 'ipam', 'driver'], `IPAM driver ${String(ipam.driver)} cannot be expressed; the engine's default IPAM is used`);
  const cfg = (ipam.config as Obj[] | undefined) ?? [];
  const isV6 = (c: Obj): boolean => String(c.subnet ?? '').includes(':');
  const v4 = cfg.find((c) => !isV6(c));
  const v6 = cfg.find(isV6);
  if (v4?.subnet) r.subnet = String(v4.subnet);
  if (v4?.gateway) r.gateway = String(v4.gateway);
  if (v4?.ip_range) r.ipRange = String(v4.ip_range);
  if (v6?.subnet) r.ipv6Subnet = String(v6.subnet);
  if (v6?.gateway) r.ipv6Gateway = String(v6.gateway);
  if (v6?.ip_range)
    at(['networks', key, 'ipam', 'config', cfg.indexOf(v6), 'ip_range'], 'an IPv6 ip_range cannot be expressed; addresses come from the whole subnet');
  cfg.forEach((c, i) => {
    if (c !== v4 && c !== v6) at(['networks', key, 'ipam', 'config', i], 'a second subnet of the same family cannot be expressed; dropped');
  });
  if (r.enableIPv6 === true && !r.ipv6Subnet)
    at(
      ['networks', key, 'enable_ipv6'],
      'enable_ipv6 without an IPv6 subnet in ipam.config: this engine needs one to create the network; add one (e.g. fd00:db8::/64)',
    );
  if (isObj(n.driver_opts)) r.options = stringMap(n.driver_opts);
  if (Object.keys(listToMap(n.labels)).length) r.labels = stringMap(n.labels);
  return r;
}

function volumeResource(v: Obj, name: string): Record<string, unknown> {
  const r: Record<string, unknown> = { kind: 'docker.volume', name };
  if (v.driver !== undefined) r.driver = String(v.driver);
  if (isObj(v.driver_opts)) r.options = stringMap(v.driver_opts);
  if (Object.keys(listToMap(v.labels)).length) r.labels = stringMap(v.labels);
  return r;
}

/** Variables for interpolation: the project's .env (or --env-file), overridden by the given environment, as in Compose. */
function interpolationEnv(projectDir: string, opts: ComposeImportOptions): Record<string, string> {
  let dotenv: Record<string, string> = {};
  try {
    dotenv = parseEnvFile(readFileSync(opts.envFile ?? path.join(projectDir, '.env'), 'utf8'));
  } catch (err) {
    if (opts.envFile)
      throw new TsconvergeError('IMPORT_FAILED', `cannot read the env file ${opts.envFile}: ${(err as Error).message}`, {
        hint: 'give an existing file with KEY=value lines',
      });
  }
  const given = Object.fromEntries(Object.entries(opts.env ?? {}).filter((e): e is [string, string] => e[1] !== undefined));
  return { ...dotenv, ...given };
}

/**
 * `extends` in every service: the base service (in the same project or in `file`), its own
 * extends first, merged under the service the way a second file is; markers honoured.
 */
async function resolveExtends(
  data: Obj,
  cfs: readonly ComposeFile[],
  projectDir: string,
  env: Readonly<Record<string, string>>,
  warn: (w: ImportWarning) => void,
): Promise<void> {
  const files = new Map<string, Obj>();
  const fail = (svc: string, msg: string): never => {
    throw new ManifestErrors([
      new TsconvergeError('COMPOSE_INVALID', msg, { location: { ...locate(cfs, ['services', svc, 'extends']), pointer: `/services/${svc}/extends` } }),
    ]);
  };
  const resolveIn = async (svcs: Obj, name: string, where: string, chain: readonly string[], from: string): Promise<Obj> => {
    const s = svcs[name];
    if (!isObj(s)) return fail(from, `extends: no service ${name} in ${where}`);
    if (s.extends === undefined) return s;
    const key = `${where}#${name}`;
    if (chain.includes(key)) return fail(from, `extends: a cycle (${[...chain, key].map((k) => k.split('#')[1]).join(' -> ')})`);
    const ext = (typeof s.extends === 'string' ? { service: s.extends } : s.extends) as { service: string; file?: string };
    let base = svcs;
    let baseWhere = where;
    if (typeof ext.file === 'string') {
      const file = path.resolve(projectDir, ext.file);
      if (!files.has(file)) files.set(file, ((await loadExtendsFile(file, env, warn)).data.services ?? {}) as Obj);
      base = files.get(file)!;
      baseWhere = file;
    }
    const parent = await resolveIn(base, ext.service, baseWhere, [...chain, key], from);
    const { extends: _drop, ...own } = s;
    void _drop;
    const merged = mergeService(stripMarkers(parent) as Obj, own);
    svcs[name] = merged;
    return merged;
  };
  const services = (data.services ?? {}) as Obj;
  for (const name of Object.keys(services)) await resolveIn(services, name, 'the project', [], name);
}

/** Swarm's Go templates ({{.Task.Slot}}, {{.Node.Hostname}}) are not expanded outside Swarm. */
function flagSwarmTemplates(v: unknown, at: Seg[], warnAt: (segs: Seg[], message: string) => void): void {
  if (typeof v === 'string') {
    const m = /\{\{\s*\.(Service|Node|Task)\.[A-Za-z.]+\s*\}\}/.exec(v);
    if (m) warnAt(at, `${m[0]} is a Swarm template: outside Swarm nothing expands it, so the container gets the text "${v}" as written`);
  } else if (Array.isArray(v)) v.forEach((x, i) => flagSwarmTemplates(x, [...at, i], warnAt));
  else if (isObj(v)) for (const [k, x] of Object.entries(v)) flagSwarmTemplates(x, [...at, k], warnAt);
}

export async function importCompose(files: readonly string[], opts: ComposeImportOptions = {}): Promise<ComposeImport> {
  if (files.length === 0)
    throw new TsconvergeError('IMPORT_FAILED', 'no Compose file given', {
      hint: 'tsconverge import compose docker-compose.yml [docker-compose.override.yml ...]',
    });
  const warnings: ImportWarning[] = [];
  const warn = (w: ImportWarning): void => {
    warnings.push(w);
  };
  const projectDir = path.dirname(path.resolve(files[0]!));
  const env = interpolationEnv(projectDir, opts);
  const shell = Object.fromEntries(Object.entries(opts.env ?? {}).filter((e): e is [string, string] => e[1] !== undefined));
  const cfs = await loadComposeFiles(files, env, warn, shell);
  for (const f of cfs) walkUnsupported(f, f.doc.contents, TOP, [], warn);
  const marked = mergeMarked(cfs.map((f) => f.data));
  await resolveExtends(marked, cfs, projectDir, env, warn);
  const data = stripMarkers(marked) as Obj;
  const at = (segs: Seg[], message: string): void => warn({ ...locate(cfs, segs), key: segs.join('.'), message });
  flagSwarmTemplates(data.services, ['services'], at);

  const project = normaliseProject(opts.projectName ?? env.COMPOSE_PROJECT_NAME ?? (typeof data.name === 'string' ? data.name : path.basename(projectDir)));
  const profiles = new Set([...(opts.profiles ?? []), ...(env.COMPOSE_PROFILES ?? '').split(',').filter(Boolean)]);
  const services = Object.entries((data.services as Obj | undefined) ?? {}).filter(([, s]) => {
    const p = (s as Obj).profiles as string[] | undefined;
    return !p?.length || p.some((x) => profiles.has(x));
  });
  const included = new Set(services.map(([n]) => n));
  const containerName = (svc: string): string => {
    const s = ((data.services as Obj)[svc] ?? {}) as Obj;
    if (typeof s.container_name === 'string') return s.container_name;
    return opts.containerNames === 'v2' ? `${project}-${svc}-1` : `${project}_${svc}_1`;
  };
  const adopt = (opts.adopt ?? true) ? { adopt: true } : {};
  const resolvePath = (p: string): string => path.resolve(projectDir, p.startsWith('~') ? os.homedir() + p.slice(1) : p);

  // Top-level networks and volumes, as Compose names them.
  const topNets = (data.networks ?? {}) as Obj;
  const topVols = (data.volumes ?? {}) as Obj;
  const netName = (key: string): string => {
    const n = (topNets[key] ?? {}) as Obj;
    const ext = n.external;
    if (ext) return isObj(ext) && typeof ext.name === 'string' ? ext.name : typeof n.name === 'string' ? n.name : key;
    return typeof n.name === 'string' ? n.name : `${project}_${key}`;
  };
  const volName = (key: string): string => {
    const v = (topVols[key] ?? {}) as Obj;
    const ext = v.external;
    if (ext) return isObj(ext) && typeof ext.name === 'string' ? ext.name : typeof v.name === 'string' ? v.name : key;
    return typeof v.name === 'string' ? v.name : `${project}_${key}`;
  };
  const usedNets = new Set<string>();
  const usedVols = new Set<string>();
  const files_: Record<string, unknown>[] = [];
  const images: Record<string, unknown>[] = [];
  const builtName = (svc: string): string => (opts.containerNames === 'v2' ? `${project}-${svc}` : `${project}_${svc}`);

  const ctx: ProjectContext = {
    data,
    project,
    env,
    included,
    topNets,
    adopt,
    usedNets,
    usedVols,
    files: files_,
    images,
    builtName,
    at,
    containerName,
    netName,
    volName,
    resolvePath,
    expandPort,
  };
  const containers = services.map(([svc, s]) => containerFor(svc, s as Obj, ctx));
  const networks = [...usedNets]
    .sort()
    .filter((key) => !((topNets[key] ?? {}) as Obj).external) // external: made by someone else; only joined
    .map((key) => ({ ...networkResource(key, (topNets[key] ?? {}) as Obj, netName(key), at), ...adopt }));
  // Compose creates every declared volume, used or not.
  const volumes = Object.keys(topVols)
    .sort()
    .filter((key) => !((topVols[key] ?? {}) as Obj).external)
    .map((key) => ({ ...volumeResource((topVols[key] ?? {}) as Obj, volName(key)), ...adopt }));
  // A static address needs a subnet the network declares (the engine refuses one on an automatic subnet).
  for (const [svc, sv] of services) {
    for (const [key, o] of Object.entries(networksMap((sv as Obj).networks))) {
      const n = (networks as Record<string, unknown>[]).find((x) => x.name === netName(key));
      for (const [addr, family] of [
        ['ipv4_address', 'subnet'],
        ['ipv6_address', 'ipv6Subnet'],
      ] as const) {
        if (o?.[addr] !== undefined && n && n[family] === undefined)
          at(
            ['services', svc, 'networks', key, addr],
            `network ${key} declares no ${family === 'subnet' ? 'IPv4' : 'IPv6'} subnet (ipam.config): the engine refuses a static address on it, and Compose does too; declare the subnet`,
          );
      }
    }
  }
  reportKnockOn({
    data,
    included,
    at,
    where: (segs) => {
      const l = locate(cfs, segs);
      return l.line !== undefined ? `${l.file}:${l.line}:${l.column ?? 1}` : l.file;
    },
  });
  for (const key of usedVols) if (!(key in topVols)) at(['services'], `volume ${key} is used but not declared under the top-level volumes`);
  return { project, resources: [...networks, ...volumes, ...files_, ...images, ...containers], warnings };
}

export { formatWarning };
