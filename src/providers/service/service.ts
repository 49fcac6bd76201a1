/**
 * Kind `service`: a host daemon kept running (or stopped), and restarted or reloaded
 * when a resource that notifies it changes (chrony after ntp, rsyslogd after
 * logging.forward, dockerd after docker.daemon).
 *
 * Two backends, chosen by `provider` (default auto: systemd when systemd is PID 1,
 * otherwise process):
 * - systemd: systemctl on the unit (`unit`, default the resource name);
 * - process: a real process from the declared `start` command and `pidfile` (see
 *   process.ts). The pidfile and logFile are paths under the root directory; the
 *   command and its arguments are used as declared.
 * A service is never "absent": `ensure` is running or stopped.
 */
import { TsconvergeError } from '../../core/errors.js';
import { unsuitable, type Provider, type ProviderContext, type Resource, type View } from '../types.js';
import { checkSignal, pidfileOf, readProcess, reloadProcess, restartProcess, startProcess, stopProcess, type ProcessSpec } from './process.js';
import { readUnit, systemdIsInit, unitAction } from './systemd.js';

export interface ServiceAttrs {
  readonly ensure?: 'running' | 'stopped';
  readonly provider?: 'auto' | 'systemd' | 'process';
  readonly unit?: string;
  readonly enable?: boolean;
  readonly start?: readonly string[];
  readonly pidfile?: string;
  readonly writesPidfile?: boolean;
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly logFile?: string;
  readonly refresh?: 'restart' | 'reload';
  readonly reloadSignal?: string;
  readonly stopSignal?: string;
  readonly stopTimeout?: number;
  readonly startTimeout?: number;
}

export interface ServiceObserved {
  readonly backend: 'systemd' | 'process';
  readonly running: boolean;
  readonly pid: number | null;
  /** systemd only; null when the unit cannot be enabled (static) or for processes. */
  readonly enabled: boolean | null;
}

export const SERVICE_DEFAULTS = {
  ensure: 'running',
  refresh: 'restart',
  reloadSignal: 'SIGHUP',
  stopSignal: 'SIGTERM',
  stopTimeout: 10,
  startTimeout: 30,
} as const;

let systemdCache: Promise<boolean> | undefined;
async function backendOf(a: ServiceAttrs): Promise<'systemd' | 'process'> {
  if (a.provider === 'systemd' || a.provider === 'process') return a.provider;
  systemdCache ??= systemdIsInit();
  return (await systemdCache) ? 'systemd' : 'process';
}

export function processSpec(r: Resource<ServiceAttrs>, ctx: Pick<ProviderContext, 'fs' | 'exec'>): ProcessSpec {
  const a = r.attrs;
  return {
    id: r.id,
    fs: ctx.fs,
    exec: ctx.exec,
    start: a.start ?? [],
    pidfile: pidfileOf(a.pidfile, r.name),
    writesPidfile: a.writesPidfile ?? false,
    env: a.env ?? {},
    ...(a.cwd !== undefined ? { cwd: a.cwd } : {}),
    ...(a.logFile !== undefined ? { logFile: a.logFile } : {}),
    reloadSignal: checkSignal(a.reloadSignal ?? SERVICE_DEFAULTS.reloadSignal, r.id),
    stopSignal: checkSignal(a.stopSignal ?? SERVICE_DEFAULTS.stopSignal, r.id),
    stopTimeoutMs: (a.stopTimeout ?? SERVICE_DEFAULTS.stopTimeout) * 1000,
    startTimeoutMs: (a.startTimeout ?? SERVICE_DEFAULTS.startTimeout) * 1000,
  };
}

async function readOne(r: Resource<ServiceAttrs>, ctx: ProviderContext): Promise<ServiceObserved> {
  const backend = await backendOf(r.attrs);
  if (backend === 'systemd') {
    const s = await readUnit(r.id, r.attrs.unit ?? r.name, ctx.signal, ctx.exec);
    return { backend, running: s.running, pid: null, enabled: s.enabled };
  }
  const s = await readProcess({
    id: r.id,
    fs: ctx.fs,
    pidfile: pidfileOf(r.attrs.pidfile, r.name),
    start: r.attrs.start ?? [],
    writesPidfile: r.attrs.writesPidfile ?? false,
  });
  return { backend, running: s.running, pid: s.pid, enabled: null };
}

export function serviceViews(r: Resource<ServiceAttrs>, observed: ServiceObserved | null): { desired: View; actual: View | null } {
  const desired: Record<string, View[string]> = { ensure: r.attrs.ensure ?? SERVICE_DEFAULTS.ensure };
  const actual: Record<string, View[string]> = { ensure: observed?.running ? 'running' : 'stopped' };
  if (r.attrs.enable !== undefined && observed?.backend === 'systemd') {
    desired.enable = r.attrs.enable;
    actual.enable = observed.enabled ?? r.attrs.enable;
  }
  return { desired, actual: observed === null ? null : actual };
}

function needsStart(r: Resource<ServiceAttrs>): void {
  if ((r.attrs.start ?? []).length === 0) {
    throw new TsconvergeError('INVALID_VALUE', 'this host has no systemd, so a service needs a start command', {
      resource: r.id,
      terminal: true,
      hint: 'declare `start: [program, arg, ...]` (and `pidfile`), or `provider: systemd` on a host where systemd is PID 1',
    });
  }
}

async function applyOne(r: Resource<ServiceAttrs>, ctx: ProviderContext): Promise<void> {
  const want = r.attrs.ensure ?? SERVICE_DEFAULTS.ensure;
  if ((await backendOf(r.attrs)) === 'systemd') {
    const unit = r.attrs.unit ?? r.name;
    const now = await readUnit(r.id, unit, ctx.signal, ctx.exec);
    if (r.attrs.enable !== undefined && now.enabled !== null && now.enabled !== r.attrs.enable)
      await unitAction(r.id, r.attrs.enable ? 'enable' : 'disable', unit, ctx.signal, ctx.exec);
    if (now.running !== (want === 'running')) await unitAction(r.id, want === 'running' ? 'start' : 'stop', unit, ctx.signal, ctx.exec);
    return;
  }
  const spec = processSpec(r, ctx);
  if (want === 'running') {
    needsStart(r);
    await startProcess(spec, ctx.signal);
  } else {
    await stopProcess(spec, ctx.signal);
  }
}

async function refreshOne(r: Resource<ServiceAttrs>, ctx: ProviderContext): Promise<void> {
  if ((r.attrs.ensure ?? SERVICE_DEFAULTS.ensure) === 'stopped') {
    ctx.log.info(`${r.id}: notified, but declared stopped; not started`);
    return;
  }
  const how = r.attrs.refresh ?? SERVICE_DEFAULTS.refresh;
  if ((await backendOf(r.attrs)) === 'systemd') {
    await unitAction(r.id, how === 'reload' ? 'reload-or-restart' : 'restart', r.attrs.unit ?? r.name, ctx.signal, ctx.exec);
    return;
  }
  needsStart(r);
  const spec = processSpec(r, ctx);
  await (how === 'reload' ? reloadProcess(spec, ctx.signal) : restartProcess(spec, ctx.signal));
}

export function createServiceProvider(): Provider<ServiceAttrs, ServiceObserved> {
  return {
    kind: 'service',
    async suitable() {
      return process.platform === 'linux' ? undefined : unsuitable(`services are managed on Linux only (this is ${process.platform})`);
    },
    async readMany(resources, ctx) {
      const out = new Map<string, ServiceObserved | null>();
      await Promise.all(
        resources.map(async (r) => {
          out.set(r.id, await readOne(r, ctx));
        }),
      );
      return out;
    },
    views(r, observed) {
      return serviceViews(r, observed);
    },
    async apply(r, _plan, _observed, ctx) {
      await applyOne(r, ctx);
      return readOne(r, ctx);
    },
    async refresh(r, _observed, ctx) {
      await refreshOne(r, ctx);
    },
  };
}
