/**
 * The service backend for hosts where systemd is PID 1: systemctl is-active /
 * is-enabled to read, start / stop / enable / disable to converge, restart or
 * reload-or-restart to refresh.
 */
import { TsconvergeError } from '../../core/errors.js';
import { stat } from 'node:fs/promises';
import { requireBinary, runCommand, tail } from '../hostio.js';
import type { ProcessRunner } from '../../core/exec.js';

export interface SystemdState {
  readonly running: boolean;
  readonly enabled: boolean | null;
}

/** systemd's own test (sd_booted): /run/systemd/system exists on the live host. */
export function systemdIsInit(): Promise<boolean> {
  return stat('/run/systemd/system').then(
    () => true,
    () => false,
  );
}

export function unitName(unit: string): string {
  return /\.(service|socket|timer|target|path|mount)$/.test(unit) ? unit : `${unit}.service`;
}

async function systemctl(resource: string, args: readonly string[], signal?: AbortSignal, exec?: ProcessRunner): Promise<{ code: number; out: string }> {
  const bin = await requireBinary('systemctl', 'to manage services where systemd is PID 1', 'systemd', resource);
  const res = await runCommand(bin, args, { signal, timeoutMs: 120_000, exec });
  return { code: res.code, out: (res.stdout + res.stderr).trim() };
}

export async function readUnit(resource: string, unit: string, signal?: AbortSignal, exec?: ProcessRunner): Promise<SystemdState> {
  const active = await systemctl(resource, ['is-active', unitName(unit)], signal, exec);
  const enabled = await systemctl(resource, ['is-enabled', unitName(unit)], signal, exec);
  const state = enabled.out.split('\n')[0] ?? '';
  return {
    running: active.out.split('\n')[0] === 'active',
    // static, indirect, generated units cannot be enabled or disabled: not comparable.
    enabled: state === 'enabled' || state === 'enabled-runtime' ? true : state === 'disabled' ? false : null,
  };
}

export async function unitAction(
  resource: string,
  action: 'start' | 'stop' | 'restart' | 'reload-or-restart' | 'enable' | 'disable',
  unit: string,
  signal?: AbortSignal,
  exec?: ProcessRunner,
): Promise<void> {
  const res = await systemctl(resource, [action, unitName(unit)], signal, exec);
  if (res.code !== 0) {
    throw new TsconvergeError('SERVICE_FAILED', `systemctl ${action} ${unitName(unit)} failed (exit ${res.code}): ${tail(res.out, 5)}`, {
      resource,
      hint: `see \`systemctl status ${unitName(unit)}\` and \`journalctl -u ${unitName(unit)}\``,
    });
  }
}
