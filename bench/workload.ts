/**
 * The one neutral definition of the workload. Every tool's files are generated
 * from it, and every check compares the engine's state against it.
 */

/**
 * Every object the harness creates carries this label and a name with NAME_PREFIX.
 * BENCH_LABEL gives a run its own label value and prefix (tscbench-VALUE-), so two benches
 * on one engine (another session's, say) never see or remove each other's objects.
 */
export const LABEL_KEY = 'tsconverge-test';
export const LABEL_VALUE = process.env['BENCH_LABEL'] ?? 'bench';
export const NAME_PREFIX = LABEL_VALUE === 'bench' ? 'tscbench-' : `tscbench-${LABEL_VALUE}-`;

export const IMAGE = 'local/busybox:1';
export const COMMAND: readonly string[] = ['sleep', '100000'];
export const MEMORY_BYTES = 64 * 1024 * 1024;
export const RESTART = 'unless-stopped';
/** Seconds a graceful stop waits; busybox sleep ignores SIGTERM, so it waits all of it. */
export const STOP_TIMEOUT = 10;
export const MOUNT_TARGET = '/data';

export const CONTAINER_COUNT = 50;
export const VOLUME_COUNT = 10;
/** The container S3 and S4 change. */
export const CHANGED_INDEX = 0;

export interface ContainerSpec {
  readonly name: string;
  readonly env: Readonly<Record<string, string>>;
  readonly volume: string;
}

export interface Workload {
  readonly network: string;
  readonly volumes: readonly string[];
  readonly containers: readonly ContainerSpec[];
}

export function containerName(i: number): string {
  return `${NAME_PREFIX}c-${i}`;
}

export function volumeName(i: number): string {
  return `${NAME_PREFIX}vol-${i}`;
}

/**
 * The converged workload. `network` must be fresh for every teardown: Engine 20.10
 * may refuse to remove a network just emptied by force-removing its containers.
 */
export function createWorkload(network: string, count = CONTAINER_COUNT): Workload {
  const volumes = Array.from({ length: VOLUME_COUNT }, (_, i) => volumeName(i));
  const containers = Array.from({ length: count }, (_, i) => ({
    name: containerName(i),
    env: { A: '1', B: '2' },
    volume: volumeName(i % VOLUME_COUNT),
  }));
  return { network, volumes, containers };
}

/** The same workload with one container's environment changed (S3, S4). */
export function withChange(w: Workload, value: string): Workload {
  return {
    ...w,
    containers: w.containers.map((c, i) => (i === CHANGED_INDEX ? { ...c, env: { ...c.env, B: value } } : c)),
  };
}

export function changedContainer(w: Workload): ContainerSpec {
  const c = w.containers[CHANGED_INDEX];
  if (c === undefined) throw new Error('workload has no containers');
  return c;
}

/** `docker run` arguments (after `run -d`) for one container; shared by floor and puppet. */
export function dockerRunArgs(w: Workload, c: ContainerSpec): string[] {
  return [
    '--name',
    c.name,
    ...Object.entries(c.env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    '--label',
    `${LABEL_KEY}=${LABEL_VALUE}`,
    '--restart',
    RESTART,
    '--memory',
    `${MEMORY_BYTES}`,
    '--network',
    w.network,
    '--mount',
    `type=volume,source=${c.volume},target=${MOUNT_TARGET}`,
    IMAGE,
    ...COMMAND,
  ];
}
