/**
 * Who made a Docker object, from its labels. tsconverge's own objects carry
 * io.tsconverge.owner=tsconverge (ownerLabels, below); anything else is foreign
 * until adopted (engine/ownership.ts). Other tools' bookkeeping labels
 * (com.docker.compose.*) are theirs, not the user's: they are never drift.
 */
import type { Ownership } from '../types.js';

/** Label prefixes other tools keep on their objects; not the user's labels. */
export const FOREIGN_TOOL_LABEL_PREFIXES = ['com.docker.compose.', 'com.docker.stack.', 'io.tsconverge.'] as const;

export function isToolLabel(key: string): boolean {
  return FOREIGN_TOOL_LABEL_PREFIXES.some((p) => key.startsWith(p));
}

/** Labels on everything tsconverge creates. */
export const OWNER_LABEL = 'io.tsconverge.owner';
export const RESOURCE_LABEL = 'io.tsconverge.resource';
export const OWNER = 'tsconverge';

export function ownerLabels(id: string): Record<string, string> {
  return { [OWNER_LABEL]: OWNER, [RESOURCE_LABEL]: id };
}

/**
 * Labels a user declared, as seen on an object: our owner labels, and the bookkeeping
 * labels of other tools (com.docker.compose.*), are not the user's.
 */
export function userLabels(labels: Record<string, string> | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels ?? {})) if (!isToolLabel(k)) out[k] = v;
  return out;
}

/** "Docker Compose project shop, service web", or undefined when the labels do not say. */
export function madeBy(labels: Readonly<Record<string, string>> | null | undefined): string | undefined {
  const l = labels ?? {};
  const project = l['com.docker.compose.project'];
  if (project !== undefined) {
    const what =
      l['com.docker.compose.service'] !== undefined
        ? `, service ${l['com.docker.compose.service']}`
        : l['com.docker.compose.network'] !== undefined
          ? `, network ${l['com.docker.compose.network']}`
          : l['com.docker.compose.volume'] !== undefined
            ? `, volume ${l['com.docker.compose.volume']}`
            : '';
    const version = l['com.docker.compose.version'] ? ` ${l['com.docker.compose.version']}` : '';
    return `Docker Compose${version} (project ${project}${what})`;
  }
  if (l['com.docker.stack.namespace'] !== undefined) return `docker stack ${l['com.docker.stack.namespace']}`;
  const owner = l[OWNER_LABEL];
  if (owner !== undefined && owner !== OWNER) return `${owner} (label ${OWNER_LABEL})`;
  return undefined;
}

export function dockerOwnership(objectId: string, labels: Readonly<Record<string, string>> | null | undefined): Ownership {
  const by = madeBy(labels);
  return { managed: (labels ?? {})[OWNER_LABEL] === OWNER, objectId, ...(by ? { madeBy: by } : {}) };
}

type BindMount = { Type: string; Source?: string; Target: string; ReadOnly?: boolean };

/**
 * HostConfig.Binds ("src:dst[:opts]", what docker run -v and docker-compose 1.x write) as
 * mounts, so a container made that way compares like one made with the Mounts API.
 */
export function bindsAsMounts(binds: readonly string[] | null | undefined): BindMount[] {
  return (binds ?? []).flatMap((b) => {
    const parts = b.split(':');
    if (parts.length < 2) return [];
    const [source, target, opts = ''] = parts as [string, string, string?];
    const flags = opts.split(',');
    return [{ Type: source.startsWith('/') ? 'bind' : 'volume', Source: source, Target: target, ReadOnly: flags.includes('ro') }];
  });
}

/** HostConfig.Tmpfs ({"/run": "size=64m"}, what docker run --tmpfs and docker-compose 1.x write) as mounts. */
export function tmpfsAsMounts(tmpfs: Readonly<Record<string, string>> | null | undefined): BindMount[] {
  return Object.keys(tmpfs ?? {}).map((target) => ({ Type: 'tmpfs', Target: target, ReadOnly: false }));
}

/** Anonymous volumes the container has at the given targets (declared `type: volume` without a source). */
export function anonymousAt(
  mounts: readonly { Type?: string; Name?: string; Destination: string; RW?: boolean }[] | null | undefined,
  targets: ReadonlySet<string>,
): BindMount[] {
  return (mounts ?? [])
    .filter((m) => m.Type === 'volume' && /^[0-9a-f]{64}$/.test(m.Name ?? '') && targets.has(m.Destination))
    .map((m) => ({ Type: 'volume', Target: m.Destination, ReadOnly: m.RW === false }));
}
