/**
 * Kind `docker.daemon`: the Docker engine's own settings in daemon.json: the default
 * log driver and its options (so container logs stop filling disks), dns, live-restore
 * and the default address pools.
 *
 * Owned: only the keys the resource declares (log-driver, log-opts, dns, live-restore,
 * default-address-pools) in /etc/docker/daemon.json (or `configPath`); every other
 * key of the file is kept as it is. The engine reads daemon.json when it starts, so a
 * change takes effect when the engine restarts: this resource never restarts it
 * itself. Declare `notify: service[<the engine's service>]` and the restart happens on
 * apply, after the file is written, never under noop (the plan shows it as a refresh
 * of that service). live-restore keeps containers running across that restart.
 */
import { TsconvergeError } from '../../core/errors.js';
import { withFileLock, readEach } from '../hostio.js';
import type { Json, Provider, ProviderContext, Resource, View } from '../types.js';

export interface AddressPool {
  readonly base: string;
  readonly size: number;
}

export interface DaemonAttrs {
  readonly ensure?: 'present' | 'absent';
  readonly logDriver?: string;
  readonly logOpts?: Readonly<Record<string, string>>;
  readonly dns?: readonly string[];
  readonly liveRestore?: boolean;
  readonly defaultAddressPools?: readonly AddressPool[];
  readonly configPath?: string;
}

export interface DaemonObserved {
  /** The parsed daemon.json (an empty object when the file does not exist). */
  readonly config: Readonly<Record<string, unknown>>;
  readonly exists: boolean;
}

export const DAEMON_JSON = '/etc/docker/daemon.json';

/** Attribute -> daemon.json key. */
export const DAEMON_KEYS = {
  logDriver: 'log-driver',
  logOpts: 'log-opts',
  dns: 'dns',
  liveRestore: 'live-restore',
  defaultAddressPools: 'default-address-pools',
} as const;
type Attr = keyof typeof DAEMON_KEYS;
const ATTRS = Object.keys(DAEMON_KEYS) as Attr[];

/** Keys the engine applies only when it restarts (live-restore is reloaded on SIGHUP). */
export const RESTART_KEYS: readonly Attr[] = ['logDriver', 'logOpts', 'dns', 'defaultAddressPools'];

function sortedMap(m: unknown): Record<string, Json> {
  const obj = (m && typeof m === 'object' ? m : {}) as Record<string, unknown>;
  return Object.fromEntries(
    Object.keys(obj)
      .sort()
      .map((k) => [k, String(obj[k])]),
  );
}

function pools(v: unknown): Json {
  return Array.isArray(v) ? v.map((p: { base?: unknown; size?: unknown }) => ({ base: String(p?.base ?? ''), size: Number(p?.size ?? 0) })) : [];
}

/** One attribute's comparable value, from the manifest or from daemon.json (absent: null). */
function comparable(attr: Attr, v: unknown): Json {
  if (v === undefined || v === null) return null;
  switch (attr) {
    case 'logOpts':
      return sortedMap(v);
    case 'dns':
      return Array.isArray(v) ? v.map(String) : [];
    case 'liveRestore':
      return v === true;
    case 'defaultAddressPools':
      return pools(v);
    default:
      return String(v);
  }
}

export function daemonViews(r: Resource<DaemonAttrs>, observed: DaemonObserved | null): { desired: View; actual: View | null } {
  const desired: Record<string, Json> = {};
  const actual: Record<string, Json> = {};
  if (r.attrs.ensure === 'absent') {
    if (observed === null) return { desired, actual: null };
    for (const a of ATTRS) if (observed.config[DAEMON_KEYS[a]] !== undefined) actual[a] = comparable(a, observed.config[DAEMON_KEYS[a]]);
    return { desired, actual };
  }
  for (const a of ATTRS) {
    if (r.attrs[a] === undefined) continue;
    desired[a] = comparable(a, r.attrs[a]);
    actual[a] = comparable(a, observed?.config[DAEMON_KEYS[a]]);
  }
  return { desired, actual: observed === null ? null : actual };
}

/** daemon.json with the declared keys set (present) or every managed key removed (absent); other keys keep their order. */
export function renderDaemonJson(existing: Readonly<Record<string, unknown>>, a: DaemonAttrs): string {
  const next: Record<string, unknown> = { ...existing };
  for (const attr of ATTRS) {
    const key = DAEMON_KEYS[attr];
    if (a.ensure === 'absent') delete next[key];
    else if (a[attr] !== undefined) next[key] = attr === 'logOpts' ? sortedMap(a[attr]) : a[attr];
  }
  return JSON.stringify(next, null, 2) + '\n';
}

export function parseDaemonJson(text: string, file: string, resource?: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = text.trim() === '' ? {} : JSON.parse(text);
  } catch (err) {
    throw new TsconvergeError('INVALID_VALUE', `${file} is not valid JSON (${(err as Error).message}); the engine would not start with it either`, {
      resource,
      cause: err,
      terminal: true,
      hint: 'fix or remove the file by hand; tsconverge does not overwrite a file it cannot read, to keep the keys it does not manage',
    });
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new TsconvergeError('INVALID_VALUE', `${file} does not hold a JSON object`, {
      resource,
      terminal: true,
      hint: 'daemon.json is a JSON object of engine settings',
    });
  }
  return parsed as Record<string, unknown>;
}

/** The host path of daemon.json (confined to the root by ctx.fs like every other path). */
function configFile(r: Resource<DaemonAttrs>): string {
  return r.attrs.configPath ?? DAEMON_JSON;
}

async function readOne(r: Resource<DaemonAttrs>, ctx: ProviderContext): Promise<DaemonObserved | null> {
  const file = configFile(r);
  const text = await ctx.fs.readText(file, { resource: r.id });
  const config = text === null ? {} : parseDaemonJson(text, file, r.id);
  if (r.attrs.ensure === 'absent') return ATTRS.some((a) => config[DAEMON_KEYS[a]] !== undefined) ? { config, exists: true } : null;
  return text === null ? null : { config, exists: true };
}

export function createDockerDaemonProvider(): Provider<DaemonAttrs, DaemonObserved> {
  return {
    kind: 'docker.daemon',
    async suitable() {
      return undefined;
    },
    readMany: (resources, ctx) => readEach(resources, ctx, readOne),
    views(r, observed) {
      return daemonViews(r, observed);
    },
    async apply(r, plan, _observed, ctx) {
      const file = configFile(r);
      await withFileLock(ctx.fs.root + file, async () => {
        const text = await ctx.fs.readText(file, { resource: r.id });
        const config = text === null ? {} : parseDaemonJson(text, file, r.id);
        const next = renderDaemonJson(config, r.attrs);
        if (next !== text) await ctx.fs.writeAtomic(file, next, { mode: 0o644, resource: r.id, signal: ctx.signal });
      });
      const restart = plan.changes.map((c) => c.attribute).filter((a) => (RESTART_KEYS as readonly string[]).includes(a));
      if (restart.length > 0)
        ctx.log.info(
          `${r.id}: ${restart.join(', ')} ${restart.length === 1 ? 'takes' : 'take'} effect when the engine restarts (through the service this resource notifies)`,
        );
      return readOne(r, ctx);
    },
  };
}
