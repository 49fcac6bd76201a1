/**
 * Kind `ntp`: time synchronisation, through chrony (the default) or systemd-timesyncd,
 * chosen by the `provider` attribute.
 *
 * Owned: the whole configuration file of the chosen provider
 * (/etc/chrony/chrony.conf, or /etc/systemd/timesyncd.conf.d/90-tsconverge.conf), or
 * `configPath`. A new chrony.conf is checked by `chronyd -p -f` before it replaces the
 * old one; a rejected file leaves the old one byte-identical, the resource fails, and
 * so the service it notifies is not restarted. Restarting the daemon is the job of a
 * `service` resource this one notifies.
 */
import { TsconvergeError } from '../../core/errors.js';
import { compactView, findBinary, requireBinary, sortedUnique, readEach } from '../hostio.js';
import { unsuitable, type Provider, type ProviderContext, type Resource, type View } from '../types.js';
import {
  CHRONY_DEFAULTS,
  checkChronyConf,
  parseChronyConf,
  renderChronyConf,
  sourceLine,
  type ChronySettings,
  type Makestep,
  type NtpServer,
} from './chrony.js';
import { checkTimesyncd, parseTimesyncdConf, renderTimesyncdConf, type TimesyncdSettings } from './timesyncd.js';

export type NtpBackend = 'chrony' | 'timesyncd';

export interface NtpAttrs {
  readonly ensure?: 'present' | 'absent';
  readonly provider?: NtpBackend;
  readonly servers?: readonly (string | NtpServer)[];
  readonly pools?: readonly (string | NtpServer)[];
  readonly iburst?: boolean;
  readonly makestep?: Makestep | false;
  readonly allow?: readonly string[];
  readonly driftfile?: string;
  readonly rtcsync?: boolean;
  readonly extraLines?: readonly string[];
  readonly configPath?: string;
  readonly chronydPath?: string;
}

export type NtpObserved =
  { readonly provider: 'chrony'; readonly settings: ChronySettings } | { readonly provider: 'timesyncd'; readonly settings: TimesyncdSettings };

export const CONFIG_PATHS: Readonly<Record<NtpBackend, string>> = {
  chrony: '/etc/chrony/chrony.conf',
  timesyncd: '/etc/systemd/timesyncd.conf.d/90-tsconverge.conf',
};

const CHRONY_ONLY = ['iburst', 'makestep', 'allow', 'driftfile', 'rtcsync', 'chronydPath'] as const;

export function backendOf(a: NtpAttrs): NtpBackend {
  return a.provider ?? 'chrony';
}

/** The host path of the config file (ctx.fs confines it to the root). */
function configFile(r: Resource<NtpAttrs>): string {
  return r.attrs.configPath ?? CONFIG_PATHS[backendOf(r.attrs)];
}

/** The declared settings with defaults applied, in the provider's own shape. */
export function resolveChrony(a: NtpAttrs): ChronySettings {
  const iburst = a.iburst ?? CHRONY_DEFAULTS.iburst;
  return {
    servers: (a.servers ?? []).map((s) => sourceLine(s, iburst)),
    pools: (a.pools ?? []).map((s) => sourceLine(s, iburst)),
    makestep: a.makestep === false ? null : (a.makestep ?? CHRONY_DEFAULTS.makestep),
    allow: a.allow ?? [],
    driftfile: a.driftfile ?? CHRONY_DEFAULTS.driftfile,
    rtcsync: a.rtcsync ?? CHRONY_DEFAULTS.rtcsync,
    extraLines: (a.extraLines ?? []).map((l) => l.trim().split(/\s+/).join(' ')),
  };
}

export function resolveTimesyncd(a: NtpAttrs, resource: string): TimesyncdSettings {
  const declared = CHRONY_ONLY.filter((k) => a[k] !== undefined);
  const withOptions = [...(a.servers ?? []), ...(a.pools ?? [])].some(
    (s) => typeof s !== 'string' && (s.iburst !== undefined || s.prefer !== undefined || (s.options ?? []).length > 0),
  );
  if (declared.length > 0 || withOptions) {
    throw new TsconvergeError(
      'INVALID_VALUE',
      `provider timesyncd does not support ${[...declared, ...(withOptions ? ['per-server options'] : [])].join(', ')}`,
      {
        resource,
        terminal: true,
        hint: 'systemd-timesyncd only knows a list of servers; use provider: chrony for these settings, or remove them',
      },
    );
  }
  const host = (s: string | NtpServer): string => (typeof s === 'string' ? s : s.host);
  return { servers: [...(a.servers ?? []), ...(a.pools ?? [])].map(host), extraLines: (a.extraLines ?? []).map((l) => l.trim()) };
}

function chronyView(s: ChronySettings): View {
  return compactView({
    servers: sortedUnique(s.servers),
    pools: sortedUnique(s.pools),
    makestep: s.makestep ? { threshold: s.makestep.threshold, limit: s.makestep.limit } : null,
    allow: sortedUnique(s.allow),
    driftfile: s.driftfile,
    rtcsync: s.rtcsync,
    extraLines: [...s.extraLines],
  });
}

export function ntpViews(r: Resource<NtpAttrs>, observed: NtpObserved | null): { desired: View; actual: View | null } {
  if (r.attrs.ensure === 'absent') return { desired: {}, actual: observed === null ? null : {} };
  const backend = backendOf(r.attrs);
  if (backend === 'chrony') {
    const actual = observed?.provider === 'chrony' ? chronyView(observed.settings) : observed === null ? null : {};
    return { desired: chronyView(resolveChrony(r.attrs)), actual };
  }
  const desired = resolveTimesyncd(r.attrs, r.id);
  let actual: View | null = observed === null ? null : {};
  if (observed?.provider === 'timesyncd') actual = { servers: [...observed.settings.servers], extraLines: [...observed.settings.extraLines] };
  return { desired: { servers: [...desired.servers], extraLines: [...desired.extraLines] }, actual };
}

async function readOne(r: Resource<NtpAttrs>, ctx: ProviderContext): Promise<NtpObserved | null> {
  const text = await ctx.fs.readText(configFile(r), { resource: r.id });
  if (text === null) return null;
  return backendOf(r.attrs) === 'chrony'
    ? { provider: 'chrony', settings: parseChronyConf(text) }
    : { provider: 'timesyncd', settings: parseTimesyncdConf(text) };
}

async function applyOne(r: Resource<NtpAttrs>, ctx: ProviderContext): Promise<void> {
  const file = configFile(r);
  if (r.attrs.ensure === 'absent') {
    await ctx.fs.remove(file, { resource: r.id });
    return;
  }
  if (backendOf(r.attrs) === 'timesyncd') {
    const settings = resolveTimesyncd(r.attrs, r.id);
    checkTimesyncd(settings, r.id);
    await ctx.fs.writeAtomic(file, renderTimesyncdConf(settings, r.id), { mode: 0o644, resource: r.id, signal: ctx.signal });
    return;
  }
  // Find chronyd before anything is written: without it nothing can check the file.
  const chronyd = await requireBinary(r.attrs.chronydPath ?? 'chronyd', 'to check chrony.conf before it replaces the old one', 'chrony', r.id);
  const content = renderChronyConf(resolveChrony(r.attrs), r.id);
  await ctx.fs.writeAtomic(file, content, {
    mode: 0o644,
    resource: r.id,
    signal: ctx.signal,
    validate: (tmp) => checkChronyConf(chronyd, tmp, content, file, r.id, ctx.signal, ctx.exec),
  });
}

export function createNtpProvider(): Provider<NtpAttrs, NtpObserved> {
  return {
    kind: 'ntp',
    watch: () => Object.values(CONFIG_PATHS).map((p) => ({ path: p })),
    async suitable(ctx) {
      if (await findBinary('chronyd')) return undefined;
      for (const p of ['/lib/systemd/systemd-timesyncd', '/usr/lib/systemd/systemd-timesyncd']) {
        if (await ctx.fs.exists(p)) return undefined;
      }
      return unsuitable('neither chronyd (Debian package chrony) was found on PATH nor is systemd-timesyncd installed; ntp resources need one of them');
    },
    readMany: (resources, ctx) => readEach(resources, ctx, readOne),
    views(r, observed) {
      return ntpViews(r, observed);
    },
    async apply(r, _plan, _observed, ctx) {
      await applyOne(r, ctx);
      return readOne(r, ctx);
    },
  };
}
