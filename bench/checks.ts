/**
 * Checks that a tool's run left the engine in the state the workload declares,
 * and that it touched only what it had to. A fast wrong answer must not win.
 */
import type { ContainerInspect, EngineState } from './docker.js';
import { COMMAND, IMAGE, LABEL_KEY, LABEL_VALUE, MEMORY_BYTES, MOUNT_TARGET, RESTART, type Workload } from './workload.js';

/** Identity of each container: a recreated or restarted one has a new Id or StartedAt. */
export type Snapshot = ReadonlyMap<string, { readonly id: string; readonly startedAt: string }>;

export function snapshot(state: EngineState): Snapshot {
  return new Map(state.containers.map((c) => [c.Name.replace(/^\//, ''), { id: c.Id, startedAt: c.State.StartedAt }]));
}

/** Problems with the state against the workload; empty when it matches. */
export function checkState(state: EngineState, w: Workload): string[] {
  const problems: string[] = [];
  if (!state.networks.includes(w.network)) problems.push(`network ${w.network} missing`);
  const missingVolumes = w.volumes.filter((v) => !state.volumes.includes(v));
  if (missingVolumes.length > 0) problems.push(`volumes missing: ${missingVolumes.join(', ')}`);
  const byName = new Map(state.containers.map((c) => [c.Name.replace(/^\//, ''), c]));
  if (state.containers.length !== w.containers.length) {
    problems.push(`${state.containers.length} bench containers, expected ${w.containers.length}`);
  }
  for (const spec of w.containers) {
    const c = byName.get(spec.name);
    if (c === undefined) {
      problems.push(`${spec.name} missing`);
      continue;
    }
    problems.push(...checkContainer(c, w, spec.env, spec.volume).map((p) => `${spec.name}: ${p}`));
  }
  return problems.slice(0, 20);
}

function checkContainer(c: ContainerInspect, w: Workload, env: Readonly<Record<string, string>>, volume: string): string[] {
  const p: string[] = [];
  if (!c.State.Running) p.push('not running');
  if (c.Config.Image !== IMAGE) p.push(`image ${c.Config.Image}`);
  if (JSON.stringify(c.Config.Cmd ?? []) !== JSON.stringify(COMMAND)) p.push(`cmd ${JSON.stringify(c.Config.Cmd)}`);
  // The docker CLI does not keep the order of -e flags: compare as a set.
  const actualEnv = new Set(c.Config.Env ?? []);
  for (const [k, v] of Object.entries(env)) if (!actualEnv.has(`${k}=${v}`)) p.push(`env ${k}=${v} missing`);
  if (c.Config.Labels?.[LABEL_KEY] !== LABEL_VALUE) p.push(`label ${LABEL_KEY} missing`);
  if (c.HostConfig.RestartPolicy.Name !== RESTART) p.push(`restart ${c.HostConfig.RestartPolicy.Name}`);
  if (c.HostConfig.Memory !== MEMORY_BYTES) p.push(`memory ${c.HostConfig.Memory}`);
  const nets = Object.keys(c.NetworkSettings.Networks ?? {});
  if (nets.length !== 1 || nets[0] !== w.network) p.push(`networks ${nets.join(',')}`);
  const mount = c.Mounts.find((m) => m.Destination === MOUNT_TARGET);
  if (mount?.Type !== 'volume' || mount.Name !== volume) p.push(`mount at ${MOUNT_TARGET} is ${mount?.Name ?? 'absent'}`);
  return p;
}

/**
 * Which containers were recreated or restarted between two snapshots, as
 * problems when they differ from `expected` (the names that should have changed).
 */
export function checkTouched(before: Snapshot, after: Snapshot, expected: readonly string[]): string[] {
  const touched = [...after.keys()].filter((name) => {
    const b = before.get(name);
    const a = after.get(name);
    return b === undefined || a === undefined || b.id !== a.id || b.startedAt !== a.startedAt;
  });
  const problems: string[] = [];
  const unexpected = touched.filter((n) => !expected.includes(n));
  const untouched = expected.filter((n) => !touched.includes(n));
  if (unexpected.length > 0)
    problems.push(`touched unexpectedly: ${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ` (+${unexpected.length - 5})` : ''}`);
  if (untouched.length > 0) problems.push(`not recreated: ${untouched.join(', ')}`);
  const changedIds = expected.filter((n) => before.get(n)?.id === after.get(n)?.id && after.has(n));
  if (changedIds.length > 0 && untouched.length === 0) problems.push(`restarted, not recreated: ${changedIds.join(', ')}`);
  return problems;
}
