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
import { isMap, type Node, type YAMLMap } from 'yaml';
import { TsconvergeError } from '../engine/errors.js';
import { parseDuration } from '../providers/docker/container-spec.js';
import { formatWarning, loadComposeFiles, locate, parseEnvFile, type ComposeFile, type ImportWarning } from './compose-load.js';
import { dependsMap, listToMap, mergeCompose, networksMap } from './compose-merge.js';

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
  image: T, build: T, container_name: T, command: T, entrypoint: T, environment: T, env_file: T, labels: T,
  ports: T, volumes: T, tmpfs: T, networks: { '*': { aliases: T } }, network_mode: T, restart: T, mem_limit: T, cpus: T,
  logging: T, healthcheck: T, hostname: T, dns: T, sysctls: T, user: T, working_dir: T, cap_add: T, cap_drop: T,
  read_only: T, stop_grace_period: T, depends_on: { '*': { condition: T } }, configs: T, secrets: T, profiles: T,
  deploy: { resources: { limits: { memory: T, cpus: T } } },
};
const TOP: Spec = {
  version: T, name: T, services: { '*': SERVICE },
  networks: { '*': { driver: T, driver_opts: T, internal: T, attachable: T, enable_ipv6: T, labels: T, name: T, external: T, ipam: { config: T } } },
  volumes: { '*': { driver: T, driver_opts: T, labels: T, name: T, external: T } },
  configs: { '*': { file: T, name: T, external: T } },
  secrets: { '*': { file: T, name: T, external: T } },
};

function walkUnsupported(f: ComposeFile, node: unknown, spec: Spec, at: Seg[], warn: (w: ImportWarning) => void): void {
  if (spec === true || !isMap(node)) return;
  for (const pair of (node as YAMLMap).items) {
    const key = String((pair.key as { value?: unknown } | null)?.value ?? pair.key);
    if (key.startsWith('x-')) continue; // extension fields: anchors' templates
    const sub = spec[key] ?? spec['*'];
    if (sub === undefined) {
      const pos = (pair.key as Node | null)?.range ? f.lines.linePos((pair.key as Node).range![0]) : undefined;
      warn({ file: f.file, ...(pos ? { line: pos.line, column: pos.col } : {}), key: [...at, key].join('.'), message: 'cannot be expressed in a tsconverge manifest; ignored' });
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
    if (p.mode === 'host' || p.mode === undefined) { /* fine */ } else warnAt(`mode ${String(p.mode)} is swarm-only; published as a normal port`);
    return [p.published !== undefined ? `${ip}${String(p.published)}:${String(p.target)}${proto}` : `${ip ? ip + ':' : ''}${String(p.target)}${proto}`];
  }
  const s = String(p);
  const [spec, proto] = s.split('/');
  const suffix = proto && proto !== 'tcp' ? `/${proto}` : '';
  const m = /^(?:(\[[^\]]+\]|[0-9]+\.[0-9.]+):)?(?:([0-9-]*):)?([0-9]+(?:-[0-9]+)?)$/.exec(spec!);
  if (!m) { warnAt(`port "${s}" not understood; ignored`); return []; }
  const [, ip, host = '', target] = m;
  const range = (r: string): number[] => {
    const [a, b = a] = r.split('-').map(Number);
    return Array.from({ length: b! - a! + 1 }, (_, i) => a! + i);
  };
  const targets = range(target!);
  const hosts = host ? range(host) : [];
  if (hosts.length && hosts.length !== targets.length) { warnAt(`port "${s}": a host range for a single container port cannot be expressed; ignored`); return []; }
  return targets.map((t, i) => {
    const h = hosts.length ? String(hosts[i]) : '';
    return `${ip ? `${ip}:${h}:` : h ? `${h}:` : ''}${t}${suffix}`;
  });
}

export async function importCompose(files: readonly string[], opts: ComposeImportOptions = {}): Promise<ComposeImport> {
  if (files.length === 0) throw new TsconvergeError('IMPORT_FAILED', 'no Compose file given', { hint: 'tsconverge import compose docker-compose.yml [docker-compose.override.yml ...]' });
  const warnings: ImportWarning[] = [];
  const warn = (w: ImportWarning): void => { warnings.push(w); };
  const projectDir = path.dirname(path.resolve(files[0]!));
  const envFile = opts.envFile ?? path.join(projectDir, '.env');
  let dotenv: Record<string, string> = {};
  try { dotenv = parseEnvFile(readFileSync(envFile, 'utf8')); } catch (err) {
    if (opts.envFile) throw new TsconvergeError('IMPORT_FAILED', `cannot read the env file ${opts.envFile}: ${(err as Error).message}`, { hint: 'give an existing file with KEY=value lines' });
  }
  const given = Object.fromEntries(Object.entries(opts.env ?? {}).filter((e): e is [string, string] => e[1] !== undefined));
  const env: Record<string, string> = { ...dotenv, ...given }; // the shell's environment wins, as in Compose
  const cfs = await loadComposeFiles(files, env, warn);
  for (const f of cfs) walkUnsupported(f, f.doc.contents, TOP, [], warn);
  const data = mergeCompose(cfs.map((f) => f.data));
  const at = (segs: Seg[], message: string): void => warn({ ...locate(cfs, segs), key: segs.join('.'), message });

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
  const adopt = opts.adopt ?? true ? { adopt: true } : {};
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
  const containers: Record<string, unknown>[] = [];

  for (const [svc, raw] of services) {
    const s = raw as Obj;
    const base = ['services', svc];
    const c: Record<string, unknown> = { kind: 'docker.container', name: containerName(svc) };
    if (typeof s.image === 'string') c.image = s.image;
    else {
      c.image = `${project}_${svc}`;
      at([...base, 'build'], `build cannot be expressed: tsconverge runs images, it does not build them; using the image name Compose gives the build (${c.image}); build it before applying`);
    }
    if (s.build !== undefined && typeof s.image === 'string') at([...base, 'build'], 'build cannot be expressed; the container runs the image named by image');
    if (s.command !== undefined && s.command !== null) c.command = s.command;
    if (s.entrypoint !== undefined && s.entrypoint !== null) c.entrypoint = s.entrypoint;

    const environment: Record<string, string> = {};
    const envFiles = s.env_file === undefined ? [] : Array.isArray(s.env_file) ? s.env_file : [s.env_file];
    for (const ef of envFiles) {
      const p = resolvePath(String(isObj(ef) ? ef.path : ef));
      try { Object.assign(environment, parseEnvFile(readFileSync(p, 'utf8'))); } catch (err) {
        at([...base, 'env_file'], `cannot read ${p}: ${(err as Error).message}`);
      }
    }
    for (const [k, v] of Object.entries(listToMap(s.environment))) {
      if (v === null || v === undefined) { if (env[k] !== undefined) environment[k] = env[k]!; }
      else environment[k] = String(v);
    }
    if (Object.keys(environment).length) c.environment = environment;
    const labels = listToMap(s.labels);
    if (Object.keys(labels).length) c.labels = Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, String(v ?? '')]));

    const ports = ((s.ports as unknown[] | undefined) ?? []).flatMap((p, i) => expandPort(p, (m) => at([...base, 'ports', i], m)));
    if (ports.length) c.ports = ports;

    // Mounts: named and anonymous volumes, bind mounts, tmpfs, secrets and configs as files.
    const mounts: Record<string, unknown>[] = [];
    ((s.volumes as unknown[] | undefined) ?? []).forEach((v, i) => {
      if (isObj(v)) {
        const type = String(v.type ?? 'volume');
        const m: Record<string, unknown> = { type, target: String(v.target) };
        if (type === 'bind') m.source = resolvePath(String(v.source));
        else if (type === 'volume' && v.source) { m.source = volName(String(v.source)); usedVols.add(String(v.source)); }
        else if (type === 'tmpfs') { if (isObj(v.tmpfs) && v.tmpfs.size !== undefined) m.tmpfsSize = v.tmpfs.size; }
        else if (type !== 'volume') { at([...base, 'volumes', i], `mount type ${type} cannot be expressed; ignored`); return; }
        if (v.read_only) m.readOnly = true;
        for (const k of ['bind', 'volume', 'consistency']) if (v[k] !== undefined && !(k === 'tmpfs')) at([...base, 'volumes', i, k], `${k} options cannot be expressed; ignored`);
        mounts.push(m);
        return;
      }
      const parts = String(v).split(':');
      if (parts.length === 1) { mounts.push({ type: 'volume', target: parts[0] }); return; }
      const [src, target, mode = ''] = parts as [string, string, string?];
      const flags = mode.split(',').filter(Boolean);
      for (const fl of flags) if (fl !== 'ro' && fl !== 'rw') at([...base, 'volumes', i], `mount option ${fl} cannot be expressed; ignored`);
      const isPath = /^[./~]/.test(src);
      const m: Record<string, unknown> = isPath ? { type: 'bind', source: resolvePath(src), target } : { type: 'volume', source: volName(src), target };
      if (!isPath) usedVols.add(src);
      if (flags.includes('ro')) m.readOnly = true;
      mounts.push(m);
    });
    const tmpfs = s.tmpfs === undefined ? [] : Array.isArray(s.tmpfs) ? s.tmpfs : [s.tmpfs];
    for (const t of tmpfs) mounts.push({ type: 'tmpfs', target: String(t).split(':')[0] });
    for (const [kindKey, defaultDir] of [['secrets', '/run/secrets/'], ['configs', '/']] as const) {
      const top = (data[kindKey] ?? {}) as Obj;
      ((s[kindKey] as unknown[] | undefined) ?? []).forEach((e, i) => {
        const source = isObj(e) ? String(e.source) : String(e);
        const target = isObj(e) && e.target ? String(e.target) : source;
        const def = (top[source] ?? {}) as Obj;
        if (typeof def.file !== 'string') { at([...base, kindKey, i], `${kindKey.slice(0, -1)} ${source} is not a file (external or from the environment); cannot be expressed; ignored`); return; }
        const file = resolvePath(def.file);
        if (isObj(e) && (e.uid !== undefined || e.gid !== undefined || e.mode !== undefined)) at([...base, kindKey, i], 'uid, gid and mode of a mounted file cannot be expressed; ignored');
        mounts.push({ type: 'bind', source: file, target: target.startsWith('/') ? target : defaultDir + target, readOnly: true });
        if (kindKey === 'configs') {
          at([...base, kindKey, i], 'docker-compose 1.x does not mount configs outside swarm; tsconverge mounts the file (read-only), so a stack running under docker-compose 1.x gets this container recreated');
          if (!files_.some((f) => f.name === file)) {
            try { files_.push({ kind: 'file', name: file, content: readFileSync(file, 'utf8') }); } catch (err) { at(['configs', source, 'file'], `cannot read ${file}: ${(err as Error).message}`); }
          }
        }
      });
    }
    if (mounts.length) c.mounts = mounts;

    // Networks, with the service name as an alias on each, as Compose does.
    if (s.network_mode !== undefined) {
      at([...base, 'network_mode'], `network_mode ${String(s.network_mode)} cannot be expressed; the container is declared without networks`);
    } else {
      const nets = Object.keys(s.networks ?? {}).length ? networksMap(s.networks) : { default: null };
      c.networks = Object.entries(nets).map(([key, o]) => {
        usedNets.add(key);
        const aliases = [...new Set([svc, ...(((o?.aliases as string[] | undefined) ?? []).map(String))])].sort();
        return { name: key === 'default' && !topNets.default ? `${project}_default` : netName(key), aliases };
      });
    }

    if (s.restart !== undefined) c.restart = String(s.restart);
    const limits = ((s.deploy as Obj | undefined)?.resources as Obj | undefined)?.limits as Obj | undefined;
    const memory = s.mem_limit ?? limits?.memory;
    if (memory !== undefined) c.memory = typeof memory === 'number' ? memory : String(memory).replace(/([kmgtKMGT])[bB]?$/, '$1');
    const cpus = s.cpus ?? limits?.cpus;
    if (cpus !== undefined) c.cpus = Number(cpus);
    if (isObj(s.logging)) {
      const l = s.logging;
      c.logging = { ...(l.driver ? { driver: String(l.driver) } : {}), ...(isObj(l.options) ? { options: Object.fromEntries(Object.entries(l.options).map(([k, v]) => [k, String(v)])) } : {}) };
    }
    if (isObj(s.healthcheck)) {
      const h = s.healthcheck;
      const hc: Record<string, unknown> = {};
      if (h.disable) hc.disable = true;
      else {
        if (h.test !== undefined) hc.test = h.test;
        for (const [from, to] of [['interval', 'interval'], ['timeout', 'timeout'], ['start_period', 'startPeriod']] as const) if (h[from] !== undefined) hc[to] = String(h[from]);
        if (h.retries !== undefined) hc.retries = Number(h.retries);
      }
      c.healthcheck = hc;
    }
    if (s.hostname !== undefined) c.hostname = String(s.hostname);
    if (s.dns !== undefined) c.dns = (Array.isArray(s.dns) ? s.dns : [s.dns]).map(String);
    if (s.sysctls !== undefined) c.sysctls = Object.fromEntries(Object.entries(listToMap(s.sysctls)).map(([k, v]) => [k, String(v)]));
    if (s.user !== undefined) c.user = String(s.user);
    if (s.working_dir !== undefined) c.workingDir = String(s.working_dir);
    if (s.cap_add !== undefined) c.capAdd = s.cap_add;
    if (s.cap_drop !== undefined) c.capDrop = s.cap_drop;
    if (s.read_only !== undefined) c.readOnly = Boolean(s.read_only);
    if (s.stop_grace_period !== undefined) c.stopTimeout = Math.round(parseDuration(String(s.stop_grace_period)) / 1e9);

    const require: string[] = [];
    for (const [dep, { condition }] of Object.entries(dependsMap(s.depends_on))) {
      if (!included.has(dep)) { at([...base, 'depends_on', dep], `service ${dep} is not in the import (its profile is not active); dependency dropped`); continue; }
      require.push(`docker.container[${containerName(dep)}]`);
      if (condition !== 'service_started') at([...base, 'depends_on', dep, 'condition'], `condition ${condition}: tsconverge starts ${dep} first but does not wait for it to be ${condition === 'service_healthy' ? 'healthy' : 'completed'}`);
    }
    if (require.length) c.require = require;
    Object.assign(c, adopt);
    containers.push(c);
  }

  const networks: Record<string, unknown>[] = [];
  for (const key of [...usedNets].sort()) {
    const n = (topNets[key] ?? {}) as Obj;
    if (n.external) continue; // made by someone else; the container only joins it
    const r: Record<string, unknown> = { kind: 'docker.network', name: key === 'default' && !topNets.default ? `${project}_default` : netName(key) };
    if (n.driver !== undefined) r.driver = String(n.driver);
    if (n.internal !== undefined) r.internal = Boolean(n.internal);
    r.attachable = n.attachable !== undefined ? Boolean(n.attachable) : true; // docker-compose 1.x makes its networks attachable
    if (n.enable_ipv6 !== undefined) r.enableIPv6 = Boolean(n.enable_ipv6);
    const cfg = (((n.ipam as Obj | undefined)?.config as Obj[] | undefined) ?? []);
    if (cfg[0]?.subnet) r.subnet = String(cfg[0].subnet);
    if (cfg[0]?.gateway) r.gateway = String(cfg[0].gateway);
    if (cfg[0]?.ip_range) r.ipRange = String(cfg[0].ip_range);
    if (cfg.length > 1) at(['networks', key, 'ipam', 'config', 1], 'only the first IPAM config is expressed');
    if (isObj(n.driver_opts)) r.options = Object.fromEntries(Object.entries(n.driver_opts).map(([k, v]) => [k, String(v)]));
    const labels = listToMap(n.labels);
    if (Object.keys(labels).length) r.labels = Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, String(v ?? '')]));
    networks.push({ ...r, ...adopt });
  }
  const volumes: Record<string, unknown>[] = [];
  for (const key of Object.keys(topVols).sort()) {
    const v = (topVols[key] ?? {}) as Obj;
    if (v.external) continue;
    // Compose creates every declared volume, used or not.
    const r: Record<string, unknown> = { kind: 'docker.volume', name: volName(key) };
    if (v.driver !== undefined) r.driver = String(v.driver);
    if (isObj(v.driver_opts)) r.options = Object.fromEntries(Object.entries(v.driver_opts).map(([k, x]) => [k, String(x)]));
    const labels = listToMap(v.labels);
    if (Object.keys(labels).length) r.labels = Object.fromEntries(Object.entries(labels).map(([k, x]) => [k, String(x ?? '')]));
    volumes.push({ ...r, ...adopt });
  }
  for (const [svcKey, list] of [['volumes', usedVols]] as const) {
    for (const key of list) if (!(key in topVols)) at(['services'], `${svcKey.slice(0, -1)} ${key} is used but not declared under the top-level ${svcKey}`);
  }
  return { project, resources: [...networks, ...volumes, ...files_, ...containers], warnings };
}

export { formatWarning };
