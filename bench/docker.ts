/**
 * What the harness reads from, and removes in, the Docker engine. It only ever
 * touches objects that carry the bench label AND a name with the bench prefix.
 */
import { output, run } from './exec.js';
import { LABEL_KEY, LABEL_VALUE, NAME_PREFIX } from './workload.js';

const FILTER = `label=${LABEL_KEY}=${LABEL_VALUE}`;

/** The parts of `docker inspect` (container) the checks look at. */
export interface ContainerInspect {
  readonly Id: string;
  readonly Name: string;
  readonly State: { readonly Running: boolean; readonly StartedAt: string };
  readonly Config: {
    readonly Image: string;
    readonly Cmd: readonly string[] | null;
    readonly Env: readonly string[] | null;
    readonly Labels: Readonly<Record<string, string>> | null;
  };
  readonly HostConfig: {
    readonly Memory: number;
    readonly RestartPolicy: { readonly Name: string };
  };
  readonly NetworkSettings: { readonly Networks: Readonly<Record<string, unknown>> | null };
  readonly Mounts: readonly { readonly Type: string; readonly Name?: string; readonly Destination: string }[];
}

export interface EngineState {
  readonly containers: readonly ContainerInspect[];
  readonly networks: readonly string[];
  readonly volumes: readonly string[];
}

const ours = (name: string): boolean => name.replace(/^\//, '').startsWith(NAME_PREFIX);

/** Reads every bench-labelled, bench-named container, network and volume. */
export async function readState(): Promise<EngineState> {
  const ids = lines(await output(['docker', 'ps', '-aq', '--no-trunc', '--filter', FILTER]));
  const containers =
    ids.length === 0 ? [] : (JSON.parse(await output(['docker', 'inspect', '--type', 'container', ...ids])) as ContainerInspect[]).filter((c) => ours(c.Name));
  const networks = lines(await output(['docker', 'network', 'ls', '--filter', FILTER, '--format', '{{.Name}}'])).filter(ours);
  const volumes = lines(await output(['docker', 'volume', 'ls', '--filter', FILTER, '--format', '{{.Name}}'])).filter(ours);
  return { containers, networks, volumes };
}

export interface CleanupReport {
  readonly containers: number;
  readonly volumes: number;
  /** Networks the engine refused to remove (tolerated; names are fresh per run). */
  readonly leftoverNetworks: readonly string[];
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The workload's own container and volume names (workload.ts containerName, volumeName): `<prefix>c-N`, `<prefix>vol-N`. */
const WORKLOAD_CONTAINER = new RegExp(`^${escapeRe(NAME_PREFIX)}c-\\d+$`);
const WORKLOAD_VOLUME = new RegExp(`^${escapeRe(NAME_PREFIX)}vol-\\d+$`);

/**
 * Removes bench-labelled objects with the bench name prefix, and the workload's own
 * container and volume names even without the label: Docker re-creates a named volume
 * without labels when it restarts a leftover container that mounts it (restart policy
 * unless-stopped), and such a volume, or a container of that name, would make the next S1
 * fail on an object the tool did not create. Nothing else is touched: only the exact
 * names the workload uses (`<prefix>c-N`, `<prefix>vol-N`).
 */
export async function cleanup(): Promise<CleanupReport> {
  const state = await readState();
  const byName = lines(await output(['docker', 'ps', '-a', '--no-trunc', '--filter', `name=${NAME_PREFIX}c-`, '--format', '{{.ID}} {{.Names}}']))
    .map((l) => l.split(' '))
    .filter(([, name]) => name !== undefined && WORKLOAD_CONTAINER.test(name))
    .map(([id]) => id!);
  const ids = [...new Set([...state.containers.map((c) => c.Id), ...byName])];
  for (const batch of chunks(ids, 25)) await run({ argv: ['docker', 'rm', '-f', '-v', ...batch] });
  const labelled = lines(await output(['docker', 'volume', 'ls', '--filter', FILTER, '--format', '{{.Name}}'])).filter(ours);
  const named = lines(await output(['docker', 'volume', 'ls', '--filter', `name=${NAME_PREFIX}vol-`, '--format', '{{.Name}}'])).filter((v) =>
    WORKLOAD_VOLUME.test(v),
  );
  const volumes = [...new Set([...labelled, ...named])];
  if (volumes.length > 0) await run({ argv: ['docker', 'volume', 'rm', '-f', ...volumes] });
  const leftoverNetworks: string[] = [];
  for (const net of state.networks) {
    const res = await run({ argv: ['docker', 'network', 'rm', net] });
    if (res.exitCode !== 0) leftoverNetworks.push(net);
  }
  return { containers: ids.length, volumes: volumes.length, leftoverNetworks };
}

export async function dockerVersion(): Promise<string> {
  return (await output(['docker', 'version', '--format', '{{.Server.Version}}'])).trim();
}

/** Is the image the workload runs present? */
export async function hasImage(image: string): Promise<boolean> {
  return (await run({ argv: ['docker', 'image', 'inspect', image] })).exitCode === 0;
}

function lines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
