/**
 * One Compose service as a docker.container resource, named, labelled, mounted and networked
 * the way docker-compose makes it. Keys it cannot express are warnings (ctx.at).
 */
import { readFileSync } from 'node:fs';
import { parseDuration } from '../providers/docker/container-spec.js';
import { parseEnvFile } from './compose-load.js';
import { dependsMap, listToMap, networksMap } from './compose-merge.js';
import { inSubnet } from './compose-knock.js';

type Obj = Record<string, unknown>;
type Seg = string | number;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** What converting one service needs to know about the whole project; the used sets and files fill up. */
export interface ProjectContext {
  readonly data: Obj;
  readonly project: string;
  readonly env: Readonly<Record<string, string>>;
  readonly included: ReadonlySet<string>;
  readonly topNets: Obj;
  readonly adopt: Obj;
  readonly usedNets: Set<string>;
  readonly usedVols: Set<string>;
  /** `file` resources for configs. */
  readonly files: Record<string, unknown>[];
  /** `docker.image` resources for services that build. */
  readonly images: Record<string, unknown>[];
  /** Compose's name for a built image without `image:` (v1 `<project>_<service>`, v2 `<project>-<service>`). */
  builtName(svc: string): string;
  at(segs: Seg[], message: string): void;
  containerName(svc: string): string;
  netName(key: string): string;
  volName(key: string): string;
  resolvePath(p: string): string;
  expandPort(p: unknown, warnAt: (msg: string) => void): string[];
}

/** Named and anonymous volumes, bind mounts, tmpfs, secrets and configs as read-only files. */
function mountsOf(svc: string, s: Obj, ctx: ProjectContext): Record<string, unknown>[] {
  const base = ['services', svc];
  const mounts: Record<string, unknown>[] = [];
  ((s.volumes as unknown[] | undefined) ?? []).forEach((v, i) => {
    if (isObj(v)) {
      const type = String(v.type ?? 'volume');
      const m: Record<string, unknown> = { type, target: String(v.target) };
      if (type === 'bind') m.source = ctx.resolvePath(String(v.source));
      else if (type === 'volume' && v.source) {
        m.source = ctx.volName(String(v.source));
        ctx.usedVols.add(String(v.source));
      } else if (type === 'tmpfs') {
        if (isObj(v.tmpfs) && v.tmpfs.size !== undefined) m.tmpfsSize = v.tmpfs.size;
      } else if (type !== 'volume') {
        ctx.at([...base, 'volumes', i], `mount type ${type} cannot be expressed; ignored`);
        return;
      }
      if (v.read_only) m.readOnly = true;
      for (const k of ['bind', 'volume', 'consistency'])
        if (v[k] !== undefined) ctx.at([...base, 'volumes', i, k], `${k} options cannot be expressed; ignored`);
      mounts.push(m);
      return;
    }
    const parts = String(v).split(':');
    if (parts.length === 1) {
      mounts.push({ type: 'volume', target: parts[0] });
      return;
    }
    const [src, target, mode = ''] = parts as [string, string, string?];
    if (src === '') {
      ctx.at([...base, 'volumes', i], `the source of "${String(v)}" is empty (an unset variable?); the mount is dropped`);
      return;
    }
    const flags = mode.split(',').filter(Boolean);
    for (const fl of flags) if (fl !== 'ro' && fl !== 'rw') ctx.at([...base, 'volumes', i], `mount option ${fl} cannot be expressed; ignored`);
    const isPath = /^[./~]/.test(src);
    const m: Record<string, unknown> = isPath ? { type: 'bind', source: ctx.resolvePath(src), target } : { type: 'volume', source: ctx.volName(src), target };
    if (!isPath) ctx.usedVols.add(src);
    if (flags.includes('ro')) m.readOnly = true;
    mounts.push(m);
  });
  const tmpfs = s.tmpfs === undefined ? [] : Array.isArray(s.tmpfs) ? s.tmpfs : [s.tmpfs];
  for (const t of tmpfs) mounts.push({ type: 'tmpfs', target: String(t).split(':')[0] });
  for (const [kindKey, defaultDir] of [
    ['secrets', '/run/secrets/'],
    ['configs', '/'],
  ] as const) {
    const top = (ctx.data[kindKey] ?? {}) as Obj;
    ((s[kindKey] as unknown[] | undefined) ?? []).forEach((e, i) => {
      const source = isObj(e) ? String(e.source) : String(e);
      const target = isObj(e) && e.target ? String(e.target) : source;
      const def = (top[source] ?? {}) as Obj;
      if (typeof def.file !== 'string') {
        ctx.at([...base, kindKey, i], `${kindKey.slice(0, -1)} ${source} is not a file (external or from the environment); cannot be expressed; ignored`);
        return;
      }
      const file = ctx.resolvePath(def.file);
      if (isObj(e) && (e.uid !== undefined || e.gid !== undefined || e.mode !== undefined))
        ctx.at([...base, kindKey, i], 'uid, gid and mode of a mounted file cannot be expressed; ignored');
      mounts.push({ type: 'bind', source: file, target: target.startsWith('/') ? target : defaultDir + target, readOnly: true });
      if (kindKey === 'configs') {
        ctx.at(
          [...base, kindKey, i],
          'docker-compose 1.x does not mount configs outside swarm; tsconverge mounts the file (read-only), so a stack running under docker-compose 1.x gets this container recreated',
        );
        if (!ctx.files.some((f) => f.name === file)) {
          try {
            ctx.files.push({ kind: 'file', name: file, content: readFileSync(file, 'utf8') });
          } catch (err) {
            ctx.at(['configs', source, 'file'], `cannot read ${file}: ${(err as Error).message}`);
          }
        }
      }
    });
  }
  return mounts;
}

/** network_mode as networkMode: host, none, bridge, container:NAME; service:NAME is that service's container. */
function networkModeOf(svc: string, s: Obj, ctx: ProjectContext): { mode?: string; require?: string } {
  if (s.network_mode === undefined) return {};
  const mode = String(s.network_mode);
  const at = ['services', svc, 'network_mode'];
  if (Object.keys(networksMap(s.networks)).length)
    ctx.at(['services', svc, 'networks'], `network_mode ${mode} and networks together: the engine refuses both; the networks are dropped`);
  if (mode === 'host' || mode === 'none' || mode === 'bridge') return { mode };
  if (mode.startsWith('container:')) return { mode };
  if (mode.startsWith('service:')) {
    const dep = mode.slice('service:'.length);
    if (!ctx.included.has(dep)) {
      ctx.at(at, `service ${dep} is not in the import (its profile is not active); network_mode dropped, so this container would run on the default bridge`);
      return {};
    }
    return { mode: `container:${ctx.containerName(dep)}`, require: `docker.container[${ctx.containerName(dep)}]` };
  }
  ctx.at(at, `network_mode ${mode} is not understood; dropped, so this container would run on the default bridge`);
  return {};
}

/** Networks, with the service name as an alias on each, as Compose does. */
function networksOf(svc: string, s: Obj, ctx: ProjectContext): { name: string; aliases: string[]; ipv4Address?: string; ipv6Address?: string }[] | undefined {
  if (s.network_mode !== undefined) return undefined; // networkModeOf
  const nets = Object.keys(s.networks ?? {}).length ? networksMap(s.networks) : { default: null };
  return Object.entries(nets).map(([key, o]) => {
    ctx.usedNets.add(key);
    const aliases = [...new Set([svc, ...((o?.aliases as string[] | undefined) ?? []).map(String)])].sort();
    // An address outside the subnet the network declares for its family is dropped (compose-knock.ts says who used it).
    const subnets = ((((ctx.topNets[key] as Obj | undefined)?.ipam as Obj | undefined)?.config as Obj[] | undefined) ?? [])
      .map((c) => String(c.subnet ?? ''))
      .filter(Boolean);
    const carried = (addr: string, v6: boolean): boolean => {
      const first = subnets.find((c) => c.includes(':') === v6);
      return !first || inSubnet(addr, first) || !subnets.some((c) => inSubnet(addr, c));
    };
    return {
      name: ctx.netName(key),
      aliases,
      ...(o?.ipv4_address !== undefined && carried(String(o.ipv4_address), false) ? { ipv4Address: String(o.ipv4_address) } : {}),
      ...(o?.ipv6_address !== undefined && carried(String(o.ipv6_address), true) ? { ipv6Address: String(o.ipv6_address) } : {}),
    };
  });
}

/** A namespace mode (pid, ipc): service:NAME is that service's container. */
function modeOf(v: unknown, ctx: ProjectContext, at: Seg[], require: string[]): string | undefined {
  const m = String(v);
  if (!m.startsWith('service:')) return m;
  const dep = m.slice('service:'.length);
  if (!ctx.included.has(dep)) {
    ctx.at(at, `service ${dep} is not in the import; dropped`);
    return undefined;
  }
  require.push(`docker.container[${ctx.containerName(dep)}]`);
  return `container:${ctx.containerName(dep)}`;
}

/** ulimits, privileged, tty, devices, block I/O and the other host-level settings (issue 28). */
function hostSettings(svc: string, s: Obj, c: Record<string, unknown>, ctx: ProjectContext, require: string[]): void {
  const base = ['services', svc];
  const deploy = (s.deploy ?? {}) as Obj;
  const res = (deploy.resources ?? {}) as Obj;
  if (isObj(s.ulimits))
    c.ulimits = Object.fromEntries(Object.entries(s.ulimits).map(([k, v]) => [k, isObj(v) ? { soft: Number(v.soft), hard: Number(v.hard) } : Number(v)]));
  for (const [from, to] of [
    ['privileged', 'privileged'],
    ['tty', 'tty'],
    ['stdin_open', 'stdinOpen'],
    ['init', 'init'],
  ] as const)
    if (s[from] !== undefined) c[to] = s[from] === true || s[from] === 'true';
  if (Array.isArray(s.security_opt)) c.securityOpt = s.security_opt.map(String);
  if (s.shm_size !== undefined) c.shmSize = typeof s.shm_size === 'number' ? s.shm_size : String(s.shm_size).replace(/([kmgtKMGT])[bB]?$/, '$1');
  if (Array.isArray(s.devices)) {
    c.devices = s.devices.map((d) => (isObj(d) ? [d.source, d.target ?? d.source, d.permissions ?? 'rwm'].map(String).join(':') : String(d)));
  }
  if (Array.isArray(s.group_add)) c.groupAdd = s.group_add.map(String);
  if (s.pid !== undefined && s.pid !== null) {
    const m = modeOf(s.pid, ctx, [...base, 'pid'], require);
    if (m) c.pid = m;
  }
  if (s.ipc !== undefined) {
    const m = modeOf(s.ipc, ctx, [...base, 'ipc'], require);
    if (m) c.ipc = m;
  }
  if (s.extra_hosts !== undefined) {
    c.extraHosts = Array.isArray(s.extra_hosts)
      ? s.extra_hosts.map(String)
      : Object.entries(s.extra_hosts as Obj).flatMap(([h, ip]) => (Array.isArray(ip) ? ip : [ip]).map((x) => `${h}:${String(x)}`));
  }
  if (isObj(s.blkio_config)) {
    const b = s.blkio_config;
    if (b.weight !== undefined) c.blkioWeight = Number(b.weight);
    for (const [from, to] of [
      ['device_read_bps', 'deviceReadBps'],
      ['device_write_bps', 'deviceWriteBps'],
      ['device_read_iops', 'deviceReadIops'],
      ['device_write_iops', 'deviceWriteIops'],
    ] as const) {
      if (Array.isArray(b[from]))
        c[to] = (b[from] as Obj[]).map((l) => ({
          path: String(l.path),
          rate: typeof l.rate === 'number' || to.endsWith('Iops') ? Number(l.rate) : String(l.rate),
        }));
    }
  }
  const pids = s.pids_limit ?? (res.limits as Obj | undefined)?.pids;
  if (pids !== undefined) c.pidsLimit = Number(pids);
  if (s.memswap_limit !== undefined)
    c.memorySwap = typeof s.memswap_limit === 'number' ? s.memswap_limit : String(s.memswap_limit).replace(/([kmgtKMGT])[bB]?$/, '$1');
  const reservation = s.mem_reservation ?? (res.reservations as Obj | undefined)?.memory;
  if (reservation !== undefined) c.memoryReservation = typeof reservation === 'number' ? reservation : String(reservation).replace(/([kmgtKMGT])[bB]?$/, '$1');
  if (s.cpu_shares !== undefined) c.cpuShares = Number(s.cpu_shares);
  if (s.cpuset !== undefined) c.cpusetCpus = String(s.cpuset);
}

export function containerFor(svc: string, s: Obj, ctx: ProjectContext): Record<string, unknown> {
  const base = ['services', svc];
  const c: Record<string, unknown> = { kind: 'docker.container', name: ctx.containerName(svc) };
  c.image = typeof s.image === 'string' ? s.image : ctx.builtName(svc);
  if (s.build !== undefined) {
    // build: a docker.image built on this host from the context, tagged by the context's content hash.
    const b: Obj = typeof s.build === 'string' ? { context: s.build } : isObj(s.build) ? s.build : {};
    const context = String(b.context ?? '.');
    if (/^[a-z]+:\/\/|^git@/.test(context))
      ctx.at(
        [...base, 'build', 'context'],
        `a remote build context (${context}) cannot be expressed: tsconverge builds from a directory on the host; the image ${String(c.image)} must exist`,
      );
    else if (!ctx.images.some((i) => i.name === c.image)) {
      const args: Record<string, string> = {};
      for (const [k, v] of Object.entries(listToMap(b.args))) {
        if (v !== null && v !== undefined) args[k] = String(v);
        else if (ctx.env[k] !== undefined) args[k] = ctx.env[k]!;
      }
      ctx.images.push({
        kind: 'docker.image',
        name: c.image,
        build: {
          context: ctx.resolvePath(context),
          ...(b.dockerfile !== undefined ? { dockerfile: String(b.dockerfile) } : {}),
          ...(b.target !== undefined ? { target: String(b.target) } : {}),
          ...(Object.keys(args).length ? { args } : {}),
          ...(b.network !== undefined ? { network: String(b.network) } : {}),
        },
      });
    }
  }
  if (s.command !== undefined && s.command !== null) c.command = s.command;
  if (s.entrypoint !== undefined && s.entrypoint !== null) c.entrypoint = s.entrypoint;

  const environment: Record<string, string> = {};
  const envFiles = s.env_file === undefined ? [] : Array.isArray(s.env_file) ? s.env_file : [s.env_file];
  envFiles.forEach((ef, i) => {
    const p = ctx.resolvePath(String(isObj(ef) ? ef.path : ef));
    const required = !isObj(ef) || ef.required === undefined || ef.required === true || ef.required === 'true';
    try {
      Object.assign(environment, parseEnvFile(readFileSync(p, 'utf8')));
    } catch (err) {
      // required: false is an optional file (Compose skips it quietly)
      if (required)
        ctx.at(
          [...base, 'env_file', ...(Array.isArray(s.env_file) ? [i] : [])],
          `cannot read ${p}: ${(err as Error).message}; its variables are missing from the container`,
        );
    }
  });
  for (const [k, v] of Object.entries(listToMap(s.environment))) {
    if (v === null || v === undefined) {
      if (ctx.env[k] !== undefined) environment[k] = ctx.env[k]!;
    } else environment[k] = String(v);
  }
  if (Object.keys(environment).length) c.environment = environment;
  const labels = listToMap(s.labels);
  if (Object.keys(labels).length) c.labels = Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, String(v ?? '')]));

  const ports = ((s.ports as unknown[] | undefined) ?? []).flatMap((p, i) => ctx.expandPort(p, (m) => ctx.at([...base, 'ports', i], m)));
  if (ports.length) c.ports = ports;

  const mounts = mountsOf(svc, s, ctx);
  if (mounts.length) c.mounts = mounts;
  const networks = networksOf(svc, s, ctx);
  if (networks) c.networks = networks;
  const netMode = networkModeOf(svc, s, ctx);
  if (netMode.mode) c.networkMode = netMode.mode;

  const policy = (s.deploy as Obj | undefined)?.restart_policy as Obj | undefined;
  if (s.restart !== undefined) c.restart = String(s.restart);
  else if (policy?.condition !== undefined) {
    const cond = String(policy.condition);
    c.restart =
      cond === 'any' ? 'always' : cond === 'none' ? 'no' : policy.max_attempts !== undefined ? `on-failure:${String(policy.max_attempts)}` : 'on-failure';
  }
  const limits = ((s.deploy as Obj | undefined)?.resources as Obj | undefined)?.limits as Obj | undefined;
  const memory = s.mem_limit ?? limits?.memory;
  if (memory !== undefined) c.memory = typeof memory === 'number' ? memory : String(memory).replace(/([kmgtKMGT])[bB]?$/, '$1');
  const cpus = s.cpus ?? limits?.cpus;
  if (cpus !== undefined) c.cpus = Number(cpus);
  if (isObj(s.logging)) {
    const l = s.logging;
    c.logging = {
      ...(l.driver ? { driver: String(l.driver) } : {}),
      ...(isObj(l.options) ? { options: Object.fromEntries(Object.entries(l.options).map(([k, v]) => [k, String(v)])) } : {}),
    };
  }
  if (isObj(s.healthcheck)) {
    const h = s.healthcheck;
    const hc: Record<string, unknown> = {};
    if (h.disable) hc.disable = true;
    else {
      if (h.test !== undefined) hc.test = h.test;
      for (const [from, to] of [
        ['interval', 'interval'],
        ['timeout', 'timeout'],
        ['start_period', 'startPeriod'],
      ] as const)
        if (h[from] !== undefined) hc[to] = String(h[from]);
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

  const require: string[] = netMode.require ? [netMode.require] : [];
  hostSettings(svc, s, c, ctx, require);
  const subscribe: string[] = [];
  for (const [dep, { condition, restart, required }] of Object.entries(dependsMap(s.depends_on))) {
    if (!ctx.included.has(dep)) {
      // required: false is an optional dependency: Compose starts without it, quietly
      if (required !== false) ctx.at([...base, 'depends_on', dep], `service ${dep} is not in the import (its profile is not active); dependency dropped`);
      continue;
    }
    require.push(`docker.container[${ctx.containerName(dep)}]`);
    // restart: true: restarted when the dependency changes (tsconverge's subscribe)
    if (restart === true) subscribe.push(`docker.container[${ctx.containerName(dep)}]`);
    if (condition !== 'service_started')
      ctx.at(
        [...base, 'depends_on', dep, 'condition'],
        `condition ${condition}: tsconverge starts ${dep} first but does not wait for it to be ${condition === 'service_healthy' ? 'healthy' : 'completed'}`,
      );
  }
  if (require.length) c.require = require;
  if (subscribe.length) c.subscribe = subscribe;
  return Object.assign(c, ctx.adopt);
}
