/**
 * docker.container, the swap: what a replace or restart costs (consequences shown in
 * the plan), and the health gate of a replace. With a declared health check, the new
 * container must report healthy before the old one is removed; one that never does is
 * removed and the old one keeps running (the replace is reported as rolled back).
 *
 * The new container runs beside the old one while it proves itself only when nothing
 * is shared that two processes must not hold at once: no volumes (two databases on
 * one data directory corrupt it) and no published host ports (they cannot be bound
 * twice). Otherwise the old one is stopped first, and started again on a rollback.
 * On trial the new one joins its networks without the declared aliases, so clients
 * that find the service by alias keep reaching the old one until the swap.
 */
import type Docker from 'dockerode';
import { TsconvergeError } from '../../core/errors.js';
import type { Consequences } from '../types.js';
import { anonymousVolumes, parseDuration, portKey, type ContainerAttrs, type ObservedContainer } from './container-spec.js';

export function healthGated(a: ContainerAttrs): boolean {
  return a.healthcheck !== undefined && !a.healthcheck.disable && a.healthcheck.test !== undefined;
}

/** Whether old and new may run at once: health-gated, no volumes, no published host ports. */
export function sideBySide(a: ContainerAttrs, old: ObservedContainer | null): boolean {
  const volumes = (a.mounts ?? []).some((m) => m.type === 'volume') || (old ? anonymousVolumes(old.info).length > 0 : false);
  const published = (a.ports ?? []).some((p) => /^[^:]*:[0-9]+:/.test(portKey(p)));
  // A static address or the host's network cannot be held by two containers at once.
  const exclusive =
    a.networkMode === 'host' || (a.networks ?? []).some((n) => typeof n !== 'string' && (n.ipv4Address !== undefined || n.ipv6Address !== undefined));
  return healthGated(a) && !volumes && !published && !exclusive;
}

/** How long a health check may take to pass: start period + (interval + timeout) x (retries + 1), plus 5 s. */
export function healthDeadlineMs(a: ContainerAttrs): number {
  const h = a.healthcheck ?? {};
  const ns = (v: string | undefined, dflt: number): number => (v ? parseDuration(v) : dflt);
  const total = ns(h.startPeriod, 0) + (ns(h.interval, 30e9) + ns(h.timeout, 30e9)) * ((h.retries ?? 3) + 1);
  return Math.round(total / 1e6) + 5000;
}

function kept(a: ContainerAttrs, old: ObservedContainer | null): string[] {
  const out: string[] = [];
  for (const m of a.mounts ?? []) {
    if (m.type === 'volume') out.push(`volume ${m.source ?? '(anonymous)'} at ${m.target} (named volume, data kept)`);
    if (m.type === 'bind') out.push(`host path ${m.source} at ${m.target} (bind mount, kept)`);
  }
  const declared = new Set((a.mounts ?? []).map((m) => m.target));
  if (old)
    for (const v of anonymousVolumes(old.info))
      if (!declared.has(v.target)) out.push(`anonymous volume at ${v.target} (moved to the new container, data kept)`);
  return out;
}

export function containerConsequences(a: ContainerAttrs, old: ObservedContainer | null, change: 'replace' | 'restart'): Consequences {
  const t = a.stopTimeout ?? 10;
  const keeps = kept(a, old);
  if (change === 'restart') {
    return {
      downtime: `up to ${t} s (stop timeout) and the start`,
      stopTimeoutS: t,
      healthGated: false,
      order: 'the container is stopped and started again (same container, same id)',
      keeps,
    };
  }
  if (sideBySide(a, old)) {
    return {
      downtime: `none expected: the old one serves until the new one is healthy, then stops within ${t} s (stop timeout)`,
      stopTimeoutS: t,
      healthGated: true,
      order:
        'the new container is created and started beside the old one, without the network aliases; once its health check passes the old one is stopped and removed and the new one takes the aliases; if it never becomes healthy it is removed and the old one keeps running (rolled back)',
      keeps,
    };
  }
  if (healthGated(a)) {
    return {
      downtime: `up to ${t} s (stop timeout) plus the new container's start until healthy (at most ${Math.round(healthDeadlineMs(a) / 1000)} s)`,
      stopTimeoutS: t,
      healthGated: true,
      order:
        'the new container is created first; the old one is stopped (volumes or published ports cannot be shared), the new one started and must pass its health check before the old one is removed; if it never becomes healthy it is removed and the old one is started again (rolled back)',
      keeps,
    };
  }
  return {
    downtime: `up to ${t} s (stop timeout) and the new container's start`,
    stopTimeoutS: t,
    healthGated: false,
    order:
      'the new container is created first (image pulled, options checked), then the old one is stopped, the new one started, and the old one removed; a failed start restores the old one',
    keeps,
  };
}

/** Wait until the container reports healthy; throws ROLLED_BACK-ready errors with the last status otherwise. */
export async function waitHealthy(docker: Docker, id: string, resource: string, deadlineMs: number, signal: AbortSignal): Promise<void> {
  const until = Date.now() + deadlineMs;
  let status = 'starting';
  while (Date.now() < until && !signal.aborted) {
    const info = await docker.getContainer(id).inspect();
    status = (info.State as { Health?: { Status?: string } }).Health?.Status ?? 'none';
    if (status === 'healthy') return;
    if (status === 'unhealthy' || !info.State.Running) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new TsconvergeError(
    'ROLLED_BACK',
    `the new container did not become healthy (last status: ${status}${Date.now() >= until ? `, after ${Math.round(deadlineMs / 1000)} s` : ''}); it was removed and the old one keeps running (rolled back)`,
    {
      resource,
      terminal: true,
      hint: 'see the new container\'s health check output (docker inspect --format "{{json .State.Health}}" on a test run) and fix the image, command or check; the old container still serves',
    },
  );
}
