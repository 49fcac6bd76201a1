/**
 * Kind `dns`: the host resolver (nameserver, search and options lines of
 * /etc/resolv.conf) and managed /etc/hosts entries.
 *
 * Owned: in resolv.conf, only the directives the resource declares (an undeclared
 * `search` stays as it is); in /etc/hosts, only the block marked
 * `# BEGIN tsconverge managed: dns[NAME]` ... `# END tsconverge managed: dns[NAME]`.
 * ensure: absent removes the hosts block; resolv.conf is left as it is (a host always
 * has a resolver).
 */
import { readlink } from 'node:fs/promises';
import { TsconvergeError } from '../../core/errors.js';
import { withFileLock, readEach } from '../hostio.js';
import type { Provider, ProviderContext, Resource, View } from '../types.js';
import { normaliseEntries, readManagedBlock, renderHosts, sortEntries, type HostEntries } from './hosts.js';
import { parseResolvConf, renderResolvConf, type DeclaredResolver, type ResolverSettings } from './resolvconf.js';

export const RESOLV_CONF = '/etc/resolv.conf';
export const HOSTS = '/etc/hosts';

export interface HostEntry {
  readonly address: string;
  readonly names: readonly string[];
}

export interface DnsAttrs {
  readonly ensure?: 'present' | 'absent';
  readonly nameservers?: readonly string[];
  readonly search?: readonly string[];
  readonly options?: readonly string[];
  readonly hosts?: readonly HostEntry[];
}

export interface DnsObserved {
  /** Parsed resolv.conf, or null when the file does not exist. */
  readonly resolv: ResolverSettings | null;
  /** Entries of this resource's hosts block, or null when there is no block. */
  readonly hosts: HostEntries | null;
}

/** Options compare as a set of names: a later `ndots:2` overrides an earlier `ndots:1`. */
export function normaliseOptions(options: readonly string[]): string[] {
  const byName = new Map<string, string>();
  for (const o of options) byName.set(o.split(':')[0]!, o);
  return [...byName.values()].sort();
}

function declaredResolver(a: DnsAttrs): DeclaredResolver {
  return {
    ...(a.nameservers !== undefined ? { nameservers: a.nameservers } : {}),
    ...(a.search !== undefined ? { search: a.search } : {}),
    ...(a.options !== undefined ? { options: normaliseOptions(a.options) } : {}),
  };
}

function managesResolver(a: DnsAttrs): boolean {
  return a.nameservers !== undefined || a.search !== undefined || a.options !== undefined;
}

async function refuseSymlink(ctx: ProviderContext, file: string, id: string): Promise<void> {
  try {
    const st = await ctx.fs.lstat(file, { resource: id });
    if (!st?.isSymbolicLink()) return;
    const target = await readlink(await ctx.fs.resolve(file, { resource: id }));
    throw new TsconvergeError(
      'FILE_IO',
      `${file} is a symbolic link to ${target}; tsconverge does not replace a resolv.conf owned by another resolver manager`,
      {
        resource: id,
        terminal: true,
        hint: 'configure the resolver through the tool that owns the link (systemd-resolved, resolvconf), or replace the link by a plain file first',
      },
    );
  } catch (err) {
    if (err instanceof TsconvergeError) throw err;
  }
}

async function readOne(r: Resource<DnsAttrs>, ctx: ProviderContext): Promise<DnsObserved | null> {
  const resolvText = await ctx.fs.readText(RESOLV_CONF, { resource: r.id });
  const hostsText = await ctx.fs.readText(HOSTS, { resource: r.id });
  const observed: DnsObserved = {
    resolv: resolvText === null ? null : parseResolvConf(resolvText),
    hosts: readManagedBlock(hostsText, r.id),
  };
  // A host always has a resolver, so a present dns resource is never "absent": a
  // missing file reads as empty and the plan is an update.
  if (r.attrs.ensure === 'absent') return observed.hosts === null ? null : observed;
  return observed;
}

export function dnsViews(r: Resource<DnsAttrs>, observed: DnsObserved | null): { desired: View; actual: View | null } {
  const a = r.attrs;
  if (a.ensure === 'absent') return { desired: {}, actual: observed === null ? null : { hosts: sortEntries(observed.hosts ?? {}) } };
  const desired: Record<string, View[string]> = {};
  const actual: Record<string, View[string]> = {};
  const resolv = observed?.resolv ?? { nameservers: [], search: [], options: [] };
  if (a.nameservers !== undefined) {
    desired.nameservers = [...a.nameservers];
    actual.nameservers = [...resolv.nameservers];
  }
  if (a.search !== undefined) {
    desired.search = [...a.search];
    actual.search = [...resolv.search];
  }
  if (a.options !== undefined) {
    desired.options = normaliseOptions(a.options);
    actual.options = normaliseOptions(resolv.options);
  }
  if (a.hosts !== undefined) {
    desired.hosts = normaliseEntries(a.hosts);
    actual.hosts = sortEntries(observed?.hosts ?? {});
  }
  return { desired, actual: observed === null ? null : actual };
}

async function modeOf(ctx: ProviderContext, file: string): Promise<number | undefined> {
  const st = await ctx.fs.lstat(file).catch(() => null);
  return st ? st.mode & 0o7777 : undefined;
}

async function applyOne(r: Resource<DnsAttrs>, ctx: ProviderContext): Promise<void> {
  const a = r.attrs;
  const absent = a.ensure === 'absent';
  if (!absent && managesResolver(a)) {
    const file = RESOLV_CONF;
    await withFileLock(ctx.fs.root + file, async () => {
      await refuseSymlink(ctx, file, r.id);
      const before = await ctx.fs.readText(file, { resource: r.id });
      const after = renderResolvConf(before, declaredResolver(a), r.id);
      if (after !== before) await ctx.fs.writeAtomic(file, after, { mode: (await modeOf(ctx, file)) ?? 0o644, resource: r.id, signal: ctx.signal });
    });
  }
  if (absent || a.hosts !== undefined) {
    const file = HOSTS;
    await withFileLock(ctx.fs.root + file, async () => {
      const before = await ctx.fs.readText(file, { resource: r.id });
      const after = renderHosts(before, r.id, absent ? null : normaliseEntries(a.hosts ?? []));
      if (after !== (before ?? '')) await ctx.fs.writeAtomic(file, after, { mode: (await modeOf(ctx, file)) ?? 0o644, resource: r.id, signal: ctx.signal });
    });
  }
}

export function createDnsProvider(): Provider<DnsAttrs, DnsObserved> {
  return {
    kind: 'dns',
    watch: () => [{ path: RESOLV_CONF }, { path: HOSTS }],
    async suitable() {
      return undefined;
    },
    readMany: (resources, ctx) => readEach(resources, ctx, readOne),
    views(r, observed) {
      return dnsViews(r, observed);
    },
    async apply(r, _plan, _observed, ctx) {
      await applyOne(r, ctx);
      return readOne(r, ctx);
    },
  };
}
