/**
 * Provenance of a corrective change: what the agent's watcher saw before it repaired a
 * resource (a Docker engine event, a file event), or that the drift was found by a sweep
 * with no event seen. Carried in the JSON report (`resources[].seen`), the human report,
 * `tsconverge status` and the dashboard's node page; `describeSeen` gives the one line
 * all of them show: "docker.container[web] destroyed at 14:02:11; restored 1.4 s later".
 *
 * Only a short list of engine event attributes is kept (name, image, exit code, signal,
 * network and container ids): a container's labels ride along in every engine event and
 * never reach a report from here.
 */

/** An engine event on a watched object (GET /events). */
export interface DockerSeen {
  readonly source: 'docker';
  readonly type: 'container' | 'network' | 'volume';
  /** The engine's action: destroy, die, oom, kill, stop, update, rename, disconnect, ... */
  readonly action: string;
  /** The object's name (a network event: the network's). */
  readonly name: string;
  readonly id: string;
  /** When the engine says it happened (its timeNano). */
  readonly time: string;
  readonly exitCode?: number;
  readonly attributes: Readonly<Record<string, string>>;
}

/** A file event in the parent directory of a managed file, with what the file is after it. */
export interface FileSeen {
  readonly source: 'file';
  readonly path: string;
  /** inotify's kind: `rename` (replaced, moved, removed, created) or `change` (written in place). */
  readonly event: 'rename' | 'change';
  readonly time: string;
  readonly exists: boolean;
  readonly uid?: number;
  readonly gid?: number;
  /** Octal permission bits, e.g. "0644". */
  readonly mode?: string;
  readonly size?: number;
}

export type WatchEvent = DockerSeen | FileSeen;

export type Seen =
  | { readonly by: 'sweep' }
  /** `via`: the event marked a resource this one depends on (or is notified by), not this one. */
  | { readonly by: 'event'; readonly event: WatchEvent; readonly via?: string; readonly repairedAt?: string; readonly afterMs?: number };

/** Engine event attributes a report keeps: never labels. */
export const KEPT_ATTRIBUTES = ['name', 'image', 'exitCode', 'signal', 'container', 'type', 'driver'] as const;

const DOCKER_VERBS: Readonly<Record<string, string>> = {
  destroy: 'destroyed',
  die: 'died',
  oom: 'killed by the OOM killer',
  kill: 'killed',
  stop: 'stopped',
  update: 'updated',
  rename: 'renamed',
  disconnect: 'disconnected',
  connect: 'connected',
  pause: 'paused',
  remove: 'removed',
};

const clock = (iso: string): string => {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(11, 19);
};

/** What the event was, in words: "destroyed at 14:02:11", "edited (uid 0, mode 0600, 12 bytes) at ...". */
export function describeEvent(e: WatchEvent): string {
  if (e.source === 'docker') {
    const verb = DOCKER_VERBS[e.action] ?? e.action;
    const extra = e.action === 'die' && e.exitCode !== undefined ? ` (exit ${e.exitCode})` : e.action === 'disconnect' ? ` from network ${e.name}` : '';
    return `${verb}${extra} at ${clock(e.time)}`;
  }
  const what = !e.exists ? 'removed' : e.event === 'rename' ? 'replaced' : 'edited';
  const meta = e.exists ? ` (uid ${e.uid ?? '?'}, gid ${e.gid ?? '?'}, mode ${e.mode ?? '?'}, ${e.size ?? '?'} bytes)` : '';
  return `${what}${meta} at ${clock(e.time)}`;
}

/** "docker.container[web] destroyed at 14:02:11; restored 1.4 s later", or "... seen at sweep". */
export function describeSeen(id: string, seen: Seen, noop = false): string {
  if (seen.by === 'sweep') return `${id} drifted, seen at sweep${noop ? ' (noop: not repaired)' : ''}`;
  const via = seen.via ? ` (via ${seen.via})` : '';
  const after = noop ? '; not repaired (noop)' : seen.afterMs !== undefined ? `; restored ${(seen.afterMs / 1000).toFixed(1)} s later` : '';
  return `${id}${via} ${describeEvent(seen.event)}${after}`;
}
