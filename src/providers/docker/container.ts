/**
 * docker.container: reads every container with one list call plus at most one inspect
 * per declared container (concurrently), and converges them. A replace is safe: the
 * image is pulled and the new container created before the old one is stopped; a
 * failed create or start removes the new one and leaves (or puts) the old one running;
 * with a health check the new one must be healthy before the old one is removed
 * (swap.ts); networks, aliases, memory, CPU and restart policy change in place;
 * anonymous volumes move to the new container and named volumes are never removed.
 */
import type Docker from 'dockerode';
import { TsconvergeError } from '../../core/errors.js';
import type { Provider, ProviderContext, Resource, ResourcePlan, View } from '../types.js';
import { createLimiter } from '../../core/limit.js';
import { dockerError, dockerUnsuitable, pullImage, readImageIndex, readImageRef, type ImageIndex } from './client.js';
import { containerConsequences, healthDeadlineMs, healthGated, sideBySide, waitHealthy } from './swap.js';
import { dockerOwnership } from './ownership.js';
import {
  actualView,
  anonymousVolumes,
  createOptions,
  declaredNetworks,
  desiredView,
  endpointConfig,
  extraNetworks,
  resolveBindSources,
  type ContainerAttrs,
  type ObservedContainer,
} from './container-spec.js';
import { discarded, mayBeDiscarded, referencedIds, UPDATE_FIELDS } from './container-host.js';

/** Container inspects in flight at once during a batch read. */
export const READ_CONCURRENCY = 16;

const NEW_SUFFIX = '--tsc-new';
const OLD_SUFFIX = '--tsc-old';

type R = Resource<ContainerAttrs>;

export function createContainerProvider(docker: Docker): Provider<ContainerAttrs, ObservedContainer> {
  /** Image config by id: images are immutable by id, so this cache never goes stale. */
  const imageConfig = new Map<string, Promise<{ env: string[]; labels: Record<string, string> }>>();
  const configOf = (id: string): Promise<{ env: string[]; labels: Record<string, string> }> => {
    let p = imageConfig.get(id);
    if (!p) {
      p = docker
        .getImage(id)
        .inspect()
        .then(
          (i) => ({ env: i.Config?.Env ?? [], labels: (i.Config?.Labels ?? {}) as Record<string, string> }),
          () => ({ env: [], labels: {} }),
        );
      imageConfig.set(id, p);
    }
    return p;
  };

  async function observe(info: Docker.ContainerInspectInfo, attrs: ContainerAttrs, images: ImageIndex): Promise<ObservedContainer> {
    const cfg = await configOf(info.Image);
    const ids = referencedIds(info);
    const containerNames: Record<string, string> = {};
    for (const id of ids) {
      const n = await docker
        .getContainer(id)
        .inspect()
        .then(
          (c) => c.Name.replace(/^\//, ''),
          () => undefined,
        );
      if (n) containerNames[id] = n;
    }
    return { info, desiredImageId: images.resolve(attrs.image), imageEnv: cfg.env, imageLabels: cfg.labels, ...(ids.length ? { containerNames } : {}) };
  }

  /** Inspect one container by id or name; null when it does not exist. */
  async function inspectOne(r: R, ref: string, images: ImageIndex | (() => Promise<ImageIndex>)): Promise<ObservedContainer | null> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await docker.getContainer(ref).inspect();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return null; // removed between list and inspect, or never there
      throw dockerError(err, r.id, 'inspect container');
    }
    // By name, the engine also matches an id prefix: only the container of this name counts.
    if (info.Name !== `/${r.name}`) return null;
    return observe(info, r.attrs, typeof images === 'function' ? await images() : images);
  }

  /**
   * Many containers: one list of containers and one of images, then one inspect per
   * declared container that exists, at most READ_CONCURRENCY in flight. One container
   * (the second read after an apply): an inspect by name and an inspect of its image,
   * not every container and image again.
   */
  async function readMany(resources: readonly R[]): Promise<Map<string, ObservedContainer | null>> {
    const out = new Map<string, ObservedContainer | null>();
    if (resources.length === 1) {
      const r = resources[0]!;
      out.set(r.id, await inspectOne(r, r.name, () => readImageRef(docker, r.attrs.image)));
      return out;
    }
    const [list, images] = await Promise.all([docker.listContainers({ all: true }), readImageIndex(docker)]);
    const byName = new Map<string, Docker.ContainerInfo>();
    for (const c of list) for (const n of c.Names) byName.set(n.replace(/^\//, ''), c);
    const limit = createLimiter(READ_CONCURRENCY);
    await Promise.all(
      resources.map(async (r) => {
        const found = byName.get(r.name);
        out.set(r.id, found ? await limit(() => inspectOne(r, found.Id, images)) : null);
      }),
    );
    return out;
  }

  async function ensureImage(r: R, ctx: ProviderContext): Promise<void> {
    const images = await readImageIndex(docker);
    if (images.resolve(r.attrs.image)) return;
    ctx.log.info(`${r.id}: pulling ${r.attrs.image}`);
    await pullImage(docker, r.attrs.image, r.id, (r.attrs.pullTimeout ?? 300) * 1000, ctx.signal);
  }

  async function removeQuietly(name: string): Promise<void> {
    try {
      await docker.getContainer(name).remove({ force: true, v: false });
    } catch {
      /* not there */
    }
  }

  /** Create (not start) a container named `name`, joined to all its networks. Leaves nothing behind on failure. */
  /** `withoutAliases`: join the networks without the declared aliases (a container on trial must not be found by them). */
  async function createNamed(
    r: R,
    name: string,
    ctx: ProviderContext,
    carry: { name: string; target: string }[],
    withoutAliases = false,
  ): Promise<Docker.Container> {
    await removeQuietly(name); // a leftover from an interrupted run; it carries our temp suffix
    let c: Docker.Container;
    try {
      const binds = await resolveBindSources(r.attrs, (p) => ctx.fs.resolve(p, { follow: true, resource: r.id }));
      const opts = createOptions(r.id, name, r.attrs, binds, carry);
      if (withoutAliases) for (const ep of Object.values(opts.NetworkingConfig?.EndpointsConfig ?? {})) ep.Aliases = [];
      c = await docker.createContainer(opts);
    } catch (err) {
      throw dockerError(err, r.id, 'create container');
    }
    try {
      for (const n of extraNetworks(r.attrs)) await docker.getNetwork(n.name).connect({ Container: c.id, EndpointConfig: endpointConfig(n, withoutAliases) });
    } catch (err) {
      await removeQuietly(c.id);
      throw dockerError(err, r.id, 'connect container to network');
    }
    // An attribute the kernel may silently discard is read back once; otherwise no second inspect.
    const dropped = mayBeDiscarded(r.attrs) ? discarded(r.attrs, await c.inspect()) : undefined;
    if (dropped) {
      await removeQuietly(c.id);
      throw new TsconvergeError('INVALID_VALUE', dropped, {
        resource: r.id,
        terminal: true,
        hint: 'remove the attribute from the manifest, or run on a host that supports it; nothing was changed',
      });
    }
    return c;
  }

  async function start(r: R, c: Docker.Container): Promise<void> {
    try {
      await c.start();
    } catch (err) {
      const msg = (err as { json?: { message?: string } }).json?.message ?? (err as Error).message;
      throw new TsconvergeError('CONTAINER_START_FAILED', `start failed: ${msg}`, {
        resource: r.id,
        cause: err,
        terminal: true,
        hint: /address already in use|port is already allocated/.test(msg)
          ? 'a published port is taken by another process or container; free it or change ports'
          : "see the engine's message; the previous state was kept",
      });
    }
  }

  async function stop(c: Docker.Container, timeout: number): Promise<void> {
    try {
      await c.stop({ t: timeout });
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 304) throw err; // 304: already stopped
    }
  }

  async function create(r: R, ctx: ProviderContext): Promise<void> {
    await ensureImage(r, ctx);
    const c = await createNamed(r, r.name, ctx, []);
    if (r.attrs.ensure !== 'stopped') {
      try {
        await start(r, c);
      } catch (err) {
        await removeQuietly(c.id);
        throw err;
      }
    }
  }

  /** The safe replace, health-gated when the container declares a health check (see swap.ts). */
  async function replace(r: R, old: ObservedContainer, ctx: ProviderContext): Promise<void> {
    await ensureImage(r, ctx);
    const timeout = r.attrs.stopTimeout ?? 10;
    const running = r.attrs.ensure !== 'stopped';
    const gated = running && healthGated(r.attrs);
    const beside = gated && sideBySide(r.attrs, old);
    const fresh = await createNamed(r, r.name + NEW_SUFFIX, ctx, anonymousVolumes(old.info), beside);
    const oldC = docker.getContainer(old.info.Id);
    const wasRunning = old.info.State.Running;
    const restoreOld = async (): Promise<void> => {
      await oldC.rename({ name: r.name }).catch(() => undefined);
      if (wasRunning) await oldC.start().catch(() => undefined);
    };
    if (beside) {
      // The old one serves while the new one proves itself.
      try {
        await start(r, fresh);
        await waitHealthy(docker, fresh.id, r.id, healthDeadlineMs(r.attrs), ctx.signal);
      } catch (err) {
        ctx.log.warn(`${r.id}: the new container did not become healthy; it is removed and the old one keeps running`);
        await removeQuietly(fresh.id);
        throw err;
      }
    }
    try {
      await stop(oldC, timeout);
      await removeQuietly(r.name + OLD_SUFFIX);
      await oldC.rename({ name: r.name + OLD_SUFFIX });
      await fresh.rename({ name: r.name });
      // Proven healthy: now it takes the aliases the old one answered to.
      if (beside)
        for (const n of declaredNetworks(r.attrs).filter((x) => x.aliases.length > 0)) {
          await docker.getNetwork(n.name).disconnect({ Container: fresh.id, Force: false });
          await docker.getNetwork(n.name).connect({ Container: fresh.id, EndpointConfig: endpointConfig(n) });
        }
    } catch (err) {
      await removeQuietly(fresh.id);
      await restoreOld();
      throw dockerError(err, r.id, 'replace container');
    }
    if (running && !beside) {
      try {
        await start(r, fresh);
        if (gated) await waitHealthy(docker, fresh.id, r.id, healthDeadlineMs(r.attrs), ctx.signal);
      } catch (err) {
        ctx.log.warn(`${r.id}: the new container did not start${gated ? ' or become healthy' : ''}; restoring the old one`);
        await removeQuietly(fresh.id);
        await restoreOld();
        throw err;
      }
    }
    await oldC
      .remove({ v: false })
      .catch((err) => ctx.log.warn(`${r.id}: could not remove the old container ${old.info.Id.slice(0, 12)}: ${(err as Error).message}`));
  }

  /**
   * Networks in place: leave the networks not declared, join the missing ones, and
   * rejoin (disconnect, connect) those whose declared aliases differ. The container
   * keeps running and keeps its id.
   */
  async function reconnect(r: R, old: ObservedContainer): Promise<void> {
    const decl = declaredNetworks(r.attrs);
    const want = new Map(decl.map((n) => [n.name, JSON.stringify(n)]));
    const have = new Map((actualView(r.attrs, old, '/').networks as { name: string }[]).map((n) => [n.name, JSON.stringify(n)]));
    const id = old.info.Id;
    for (const [name, seen] of have) {
      if (want.get(name) === seen) continue;
      await docker.getNetwork(name).disconnect({ Container: id, Force: false });
    }
    for (const n of decl) {
      if (have.get(n.name) === want.get(n.name)) continue;
      await docker.getNetwork(n.name).connect({ Container: id, EndpointConfig: endpointConfig(n) });
    }
  }

  async function update(r: R, plan: ResourcePlan, old: ObservedContainer): Promise<void> {
    const c = docker.getContainer(old.info.Id);
    const attrs = new Set(plan.changes.map((ch) => ch.attribute));
    const inPlace = Object.keys(UPDATE_FIELDS).filter((k) => attrs.has(k));
    if (attrs.has('restart') || attrs.has('memory') || attrs.has('cpus') || inPlace.length) {
      const opts = createOptions(r.id, r.name, r.attrs, new Map((r.attrs.mounts ?? []).map((m) => [m.source ?? '', m.source ?? ''])), []).HostConfig! as Record<
        string,
        unknown
      >;
      const fields: Record<string, unknown> = {};
      for (const k of inPlace) for (const f of UPDATE_FIELDS[k]!) fields[f] = opts[f];
      await c.update({
        ...(attrs.has('restart') ? { RestartPolicy: opts.RestartPolicy } : {}),
        ...(attrs.has('memory') ? { Memory: opts.Memory, MemorySwap: opts.MemorySwap } : {}),
        ...(attrs.has('cpus') ? { NanoCpus: opts.NanoCpus } : {}),
        ...fields,
      });
      const dropped = mayBeDiscarded(r.attrs) ? discarded(r.attrs, await c.inspect()) : undefined;
      if (dropped)
        throw new TsconvergeError('INVALID_VALUE', dropped, {
          resource: r.id,
          terminal: true,
          hint: 'remove the attribute from the manifest, or run on a host that supports it',
        });
    }
    if (attrs.has('networks')) await reconnect(r, old);
    if (attrs.has('ensure')) {
      if (r.attrs.ensure === 'stopped') await stop(c, r.attrs.stopTimeout ?? 10);
      else await start(r, c);
    }
  }

  return {
    kind: 'docker.container',
    suitable: () => dockerUnsuitable(docker),
    watch: (r) => [{ docker: 'container', name: r.name }],
    readMany: (resources) => readMany(resources),
    views(r, observed, ctx): { desired: View; actual: View | null } {
      const desired = desiredView(r.attrs, observed?.desiredImageId, observed !== null);
      return { desired, actual: observed ? actualView(r.attrs, observed, ctx.root) : null };
    },
    async apply(r, plan, observed, ctx) {
      // Bind-mount sources must stay under the root: refused before anything is pulled or stopped.
      if (plan.action === 'create' || plan.action === 'replace') await resolveBindSources(r.attrs, (p) => ctx.fs.resolve(p, { follow: true, resource: r.id }));
      try {
        switch (plan.action) {
          case 'create':
            await create(r, ctx);
            break;
          case 'replace':
            await replace(r, observed!, ctx);
            break;
          case 'update':
            await update(r, plan, observed!);
            break;
          case 'delete': {
            const c = docker.getContainer(observed!.info.Id);
            await stop(c, r.attrs.stopTimeout ?? 10);
            await c.remove({ v: false });
            break;
          }
          case 'none':
            break;
        }
      } catch (err) {
        throw dockerError(err, r.id, `${plan.action} container`);
      }
      return null; // the engine reads again
    },
    follows(r, dep, depPlan) {
      // A container in another's network namespace holds that container's id: it follows its replacement.
      if (dep.kind === 'docker.container' && r.attrs.networkMode === `container:${dep.name}` && depPlan.action === 'replace') return 'replace';
      const ref = (dep.attrs as { ref?: string }).ref ?? dep.name;
      return dep.kind === 'docker.image' && ref === r.attrs.image && depPlan.action === 'replace' ? 'replace' : undefined;
    },
    consequences: (r, observed, change) => containerConsequences(r.attrs, observed, change),
    async refresh(r, observed) {
      if (!observed || r.attrs.ensure === 'stopped') return;
      await docker.getContainer(observed.info.Id).restart({ t: r.attrs.stopTimeout ?? 10 });
    },
    ownership: (_r, o) => dockerOwnership(o.info.Id, o.info.Config.Labels),
    autoRequire(r, all) {
      const ids = [...(imagesByRef(all).get(r.attrs.image) ?? [])];
      for (const n of r.attrs.networks ?? []) ids.push(`docker.network[${typeof n === 'string' ? n : n.name}]`);
      if (r.attrs.networkMode?.startsWith('container:')) ids.push(`docker.container[${r.attrs.networkMode.slice('container:'.length)}]`);
      for (const m of r.attrs.mounts ?? []) if (m.type === 'volume' && m.source) ids.push(`docker.volume[${m.source}]`);
      return ids;
    },
    autoSubscribe(r, all) {
      const sources = (r.attrs.mounts ?? []).filter((m) => m.type === 'bind' && m.source).map((m) => m.source!.replace(/\/+$/, ''));
      if (sources.length === 0) return []; // no bind mount: no file to follow (the common case; all is every resource)
      return filesUnder(all, sources);
    },
  };
}

/** The catalogue's docker.image resources by reference, once per catalogue (not a scan of every resource per container). */
const imageIndex = new WeakMap<readonly Resource[], Map<string, string[]>>();
function imagesByRef(all: readonly Resource[]): Map<string, string[]> {
  let index = imageIndex.get(all);
  if (!index) {
    index = new Map();
    for (const i of all) {
      if (i.kind !== 'docker.image') continue;
      const ref = (i.attrs as { ref?: string }).ref ?? i.name;
      const list = index.get(ref);
      if (list) list.push(i.id);
      else index.set(ref, [i.id]);
    }
    imageIndex.set(all, index);
  }
  return index;
}

/** The catalogue's file resources sorted by path, once per catalogue. */
const fileIndex = new WeakMap<readonly Resource[], { readonly path: string; readonly at: number; readonly id: string }[]>();

/**
 * Ids of the file resources at or under any of `sources`, in catalogue order: a binary
 * search in the files sorted by path, so a catalogue of many files and many containers with
 * bind mounts is not a scan of every resource per container.
 */
function filesUnder(all: readonly Resource[], sources: readonly string[]): string[] {
  let files = fileIndex.get(all);
  if (!files) {
    files = [];
    all.forEach((f, at) => {
      if (f.kind === 'file') files!.push({ path: String((f.attrs as { path?: string }).path ?? f.name), at, id: f.id });
    });
    files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.at - b.at));
    fileIndex.set(all, files);
  }
  const lowerBound = (key: string): number => {
    let lo = 0;
    let hi = files!.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (files![mid]!.path < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const hits = new Map<number, string>();
  for (const s of sources) {
    for (let i = lowerBound(s); i < files.length && files[i]!.path === s; i++) hits.set(files[i]!.at, files[i]!.id);
    for (let i = lowerBound(`${s}/`); i < files.length && files[i]!.path.startsWith(`${s}/`); i++) hits.set(files[i]!.at, files[i]!.id);
  }
  return [...hits].sort((a, b) => a[0] - b[0]).map(([, id]) => id);
}
