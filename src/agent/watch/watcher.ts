/**
 * The watching agent (issue 29): between two sweeps, events mark the resources they
 * affect, and a run of only those (and what depends on them) repairs them in seconds.
 *
 * - What to watch comes from <stateDir>/watch.json, written by every run (engine/watch.ts
 *   asks each kind's Provider.watch). This process never loads the catalogue.
 * - Docker: the engine's event stream (docker-events.ts) of containers, networks and
 *   volumes, kept to the objects the watch list names (what this catalogue manages, which
 *   carry tsconverge's owner label unless adopted). A network event names the container
 *   by id: the ids are kept from the container list and the events.
 * - Files: the parent directories of the managed paths (files.ts).
 * - Debounce: a run starts `debounceMs` after the last event (a `docker rm -f` is kill,
 *   die, destroy: one run).
 * - Rate limit: a burst of `burst` runs, then one per `everyMs`, and at most `maxRuns` per
 *   sweep interval; past that, events are counted as dropped and left to the sweep (which
 *   still names them as the cause of what it repairs).
 * - No feedback loop: an event on a resource that a run changed, timed inside that run
 *   (the engine's own time of the event; a file event's time of arrival, which comes
 *   before the run's process ends), is tsconverge's own change and marks nothing. (An own
 *   change that slipped through would cost one run that changes nothing, and a run that
 *   changes nothing makes no event: no loop.)
 * - Container state for the metrics (running, health, restarts and OOM kills seen) comes
 *   from the same stream.
 */
import type { Logger } from 'winston';
import type { WatchList } from '../../engine/watch.js';
import { KEPT_ATTRIBUTES, type DockerSeen, type WatchEvent } from '../../engine/seen.js';
import type { EventRun } from '../report.js';
import { formatDuration } from '../schedule.js';
import { openEventStream, type ContainerSummary, type EngineEvent, type EventStream } from './docker-events.js';
import { createFileWatches, type FileWatches } from './files.js';
import { readWatchList } from './state.js';

export interface WatchOptions {
  readonly stateDir: string;
  readonly root: string;
  readonly log: Logger;
  /** The engine's unix socket; undefined: Docker objects are left to the sweep. */
  readonly dockerSocket?: string;
  readonly debounceMs: number;
  readonly burst: number;
  readonly everyMs: number;
  readonly maxRuns: number;
}

/** What the watcher needs of a finished run. */
export interface RunWindow {
  readonly changed?: readonly string[];
  readonly startedAt?: string;
  readonly finishedAt?: string;
}

export interface ContainerState {
  running: boolean;
  /** healthy, unhealthy, starting; undefined: no health check. */
  health?: string;
  restarts: number;
  ooms: number;
  /** The last death was seen (a start after it is a restart). */
  died: boolean;
}

export interface WatchStats {
  eventRuns: number;
  eventsSeen: number;
  eventsOwn: number;
  eventsDropped: number;
  fullRunsForGaps: number;
  reconnects: number;
  /** Seconds from the event to the repair, of every repair an event run made (kept: the last 100). */
  repairSeconds: number[];
  readonly containers: Map<string, ContainerState>;
}

export interface Watcher {
  start(): Promise<void>;
  /** The watch list changed (after every run): watch what it names. */
  reload(): Promise<void>;
  /** The marks an event run takes (own changes removed); empty: no run needed. */
  take(): EventRun | undefined;
  /** The marks a sweep carries as provenance (also what the rate limit dropped). */
  takeForSweep(): EventRun | undefined;
  /** A run finished: drop the events of its own changes, count it. */
  finished(trigger: string, w: RunWindow, report?: { repairSeconds?: readonly number[] }): void;
  /** A sweep started: the per-interval cap starts over. */
  sweepStarted(): void;
  readonly stats: WatchStats;
  stop(): void;
}

/** Docker actions that can mean drift (the rest, start/create/exec/attach, are not). */
const DRIFT_ACTIONS = new Set(['destroy', 'die', 'oom', 'kill', 'stop', 'update', 'rename', 'disconnect', 'pause', 'remove']);

export function createWatcher(opts: WatchOptions, ready: () => void, fullRun: (why: string) => void, changed: () => void = () => undefined): Watcher {
  const log = opts.log;
  let list: WatchList | null = null;
  let stream: EventStream | undefined;
  let files: FileWatches | undefined;
  const stats: WatchStats = {
    eventRuns: 0,
    eventsSeen: 0,
    eventsOwn: 0,
    eventsDropped: 0,
    fullRunsForGaps: 0,
    reconnects: 0,
    repairSeconds: [],
    containers: new Map(),
  };
  /** resource id -> events not yet run */
  let marks = new Map<string, WatchEvent[]>();
  /** what the rate limit left to the sweep */
  let dropped = new Map<string, WatchEvent[]>();
  const windows: { changed: Set<string>; from: number; to: number }[] = [];
  let debounce: NodeJS.Timeout | undefined;
  let tokenTimer: NodeJS.Timeout | undefined;
  let tokens = opts.burst;
  let lastRefill = Date.now();
  let runsThisInterval = 0;
  let stopped = false;
  let watchedKey = '';
  /** Engine events from here on count: the agent's start (its first run's own events are recognised as such). */
  const createdAt = Date.now();
  /** container id -> name, for network events that name the container by id */
  const names = new Map<string, string>();

  const refill = (): void => {
    const now = Date.now();
    const add = Math.floor((now - lastRefill) / opts.everyMs);
    if (add > 0) {
      tokens = Math.min(opts.burst, tokens + add);
      lastRefill += add * opts.everyMs;
    }
    if (tokens >= opts.burst) lastRefill = now;
  };

  const own = (id: string, at: number): boolean => windows.some((w) => w.changed.has(id) && at >= w.from && at <= w.to);
  /** An OOM kill is never tsconverge's doing, even inside its run (a container it started that the kernel killed at once). */
  const ownEvent = (id: string, e: WatchEvent): boolean => !(e.source === 'docker' && e.action === 'oom') && own(id, Date.parse(e.time));

  function mark(ids: readonly string[], e: WatchEvent): void {
    stats.eventsSeen++;
    const fresh = ids.filter((id) => !ownEvent(id, e));
    if (fresh.length === 0) {
      stats.eventsOwn++;
      log.debug(`watch: ${describe(e)}: tsconverge's own change`);
      return;
    }
    for (const id of fresh) {
      const l = marks.get(id);
      if (l) {
        if (l.length < 20) l.push(e);
      } else marks.set(id, [e]);
    }
    log.info(`watch: ${describe(e)} marks ${fresh.join(', ')}`);
    arm();
  }

  function arm(): void {
    if (stopped) return;
    clearTimeout(debounce);
    debounce = setTimeout(fire, opts.debounceMs);
  }

  function fire(): void {
    if (stopped || marks.size === 0) return;
    refill();
    if (runsThisInterval >= opts.maxRuns) {
      let n = 0;
      for (const [id, evs] of marks) {
        n += evs.length;
        dropped.set(id, [...(dropped.get(id) ?? []), ...evs].slice(-20));
      }
      stats.eventsDropped += n;
      changed();
      log.warn(`watch: rate limit: ${opts.maxRuns} event runs this interval; ${n} event(s) on ${[...marks.keys()].join(', ')} left to the sweep`);
      marks = new Map();
      return;
    }
    if (tokens < 1) {
      const wait = Math.max(50, lastRefill + opts.everyMs - Date.now());
      clearTimeout(tokenTimer);
      tokenTimer = setTimeout(fire, wait);
      log.info(`watch: rate limit: next event run in ${formatDuration(wait)}`);
      return;
    }
    ready();
  }

  function containerState(name: string): ContainerState {
    let s = stats.containers.get(name);
    if (!s) stats.containers.set(name, (s = { running: false, restarts: 0, ooms: 0, died: false }));
    return s;
  }

  /** A container of this catalogue: by name, and (when the engine says) carrying tsconverge's owner label or adopted. */
  const managedContainer = (name: string | undefined): boolean => name !== undefined && list?.docker.container[name] !== undefined;

  function onConnected(info: { resumedSince?: string; gap?: string; containers: readonly ContainerSummary[] }): void {
    for (const c of info.containers) {
      const name = c.Names[0]?.replace(/^\//, '');
      if (!name) continue;
      names.set(c.Id, name);
      if (!managedContainer(name)) continue;
      const s = containerState(name);
      s.running = c.State === 'running';
      const h = /\((healthy|unhealthy|health: starting)\)/.exec(c.Status)?.[1];
      if (h) s.health = h === 'health: starting' ? 'starting' : h;
    }
    if (info.resumedSince) log.info(`watch: engine events resubscribed since ${info.resumedSince}`);
    else if (!info.gap) log.info('watch: engine events subscribed');
    if (info.gap) {
      stats.fullRunsForGaps++;
      log.warn(`watch: ${info.gap}; a full run instead`);
      fullRun(info.gap);
    }
  }

  function onEngineEvent(e: EngineEvent): void {
    const attrs = e.Actor.Attributes ?? {};
    const action = e.Action.split(':')[0]!;
    log.debug(`watch: engine event ${e.Type} ${e.Action} ${attrs.name ?? e.Actor.ID.slice(0, 12)}`);
    if (e.Type === 'container') {
      const name = attrs.name ?? names.get(e.Actor.ID);
      if (name) names.set(e.Actor.ID, name);
      if (!name || !managedContainer(name)) return;
      const s = containerState(name);
      if (action === 'start') {
        if (s.died) s.restarts++;
        s.died = false;
        s.running = true;
      } else if (action === 'die') {
        s.running = false;
        s.died = true;
      } else if (action === 'oom') s.ooms++;
      else if (action === 'health_status') s.health = e.Action.split(':')[1]?.trim();
      else if (action === 'destroy') {
        s.running = false;
        s.died = false;
        s.health = undefined;
      }
      changed();
      if (!DRIFT_ACTIONS.has(action)) return;
      const ids = list?.docker.container[name];
      if (ids) mark(ids, dockerSeen(e, 'container', name));
      return;
    }
    if (e.Type === 'network' || e.Type === 'volume') {
      if (!DRIFT_ACTIONS.has(action)) return;
      const type = e.Type;
      const name = attrs.name ?? e.Actor.ID;
      const ids = new Set(list?.docker[type][name] ?? []);
      // A container disconnected from a network: the container's resource is what drifted.
      const container = attrs.container ? names.get(attrs.container) : undefined;
      if (container) for (const id of list?.docker.container[container] ?? []) ids.add(id);
      if (ids.size > 0) mark([...ids], dockerSeen(e, type, name));
    }
  }

  async function reload(): Promise<void> {
    list = await readWatchList(opts.stateDir);
    if (!list || stopped) return;
    const hasDocker = Object.keys(list.docker.container).length + Object.keys(list.docker.network).length + Object.keys(list.docker.volume).length > 0;
    if (hasDocker && !stream) {
      if (opts.dockerSocket) {
        stream = openEventStream(
          opts.dockerSocket,
          {
            event: onEngineEvent,
            connected: onConnected,
            lost: (why) => {
              stats.reconnects++;
              log.warn(`watch: engine event stream lost (${why}); resubscribing since ${stream?.last() ?? 'the start'}`);
            },
          },
          { sinceMs: createdAt },
        );
      } else {
        log.warn('watch: DOCKER_HOST is not a unix socket: Docker objects are repaired by the sweep only');
      }
    }
    const paths = Object.keys(list.paths);
    if (paths.length > 0) {
      files ??= createFileWatches(
        opts.root,
        (declared, seen) => {
          void seen.then((s) => {
            if (list?.paths[declared]) mark(list.paths[declared], s);
          });
        },
        (dir, err) => log.warn(`watch: ${dir}: ${err.message}; watched again after the next run`),
      );
    }
    const dirs = files?.set(paths) ?? 0;
    const key = `${paths.length}/${dirs}`;
    if (paths.length > 0 && key !== watchedKey) log.info(`watch: ${paths.length} managed path(s) in ${dirs} director${dirs === 1 ? 'y' : 'ies'}`);
    watchedKey = key;
  }

  const takeMap = (m: Map<string, WatchEvent[]>): Record<string, WatchEvent[]> => Object.fromEntries(m);

  return {
    stats,
    start: reload,
    reload,
    take() {
      clearTimeout(debounce);
      if (marks.size === 0) return undefined;
      refill();
      tokens = Math.max(0, tokens - 1);
      runsThisInterval++;
      stats.eventRuns++;
      const out: EventRun = { targeted: true, marks: takeMap(marks) };
      marks = new Map();
      return out;
    },
    takeForSweep() {
      clearTimeout(debounce);
      const all = new Map(dropped);
      for (const [id, evs] of marks) all.set(id, [...(all.get(id) ?? []), ...evs]);
      marks = new Map();
      dropped = new Map();
      return all.size > 0 ? { targeted: false, marks: takeMap(all) } : undefined;
    },
    finished(_trigger, w, report) {
      if (w.changed?.length && w.startedAt && w.finishedAt) {
        const win = { changed: new Set(w.changed), from: Date.parse(w.startedAt), to: Date.parse(w.finishedAt) };
        windows.push(win);
        if (windows.length > 8) windows.shift();
        // Marks that arrived during the run for what it changed itself.
        let ownNow = 0;
        for (const [id, evs] of marks) {
          const rest = evs.filter((e) => !ownEvent(id, e));
          ownNow += evs.length - rest.length;
          if (rest.length) marks.set(id, rest);
          else marks.delete(id);
        }
        stats.eventsOwn += ownNow;
        if (ownNow > 0) log.info(`watch: ${ownNow} event(s) seen during the run were its own changes: no run for them`);
      }
      for (const s of report?.repairSeconds ?? []) {
        stats.repairSeconds.push(s);
        if (stats.repairSeconds.length > 100) stats.repairSeconds.shift();
      }
      if (marks.size > 0) arm();
    },
    sweepStarted() {
      runsThisInterval = 0;
    },
    stop() {
      stopped = true;
      clearTimeout(debounce);
      clearTimeout(tokenTimer);
      stream?.stop();
      files?.stop();
    },
  };
}

function dockerSeen(e: EngineEvent, type: DockerSeen['type'], name: string): DockerSeen {
  const attrs = e.Actor.Attributes ?? {};
  const kept: Record<string, string> = {};
  for (const k of KEPT_ATTRIBUTES) if (attrs[k] !== undefined) kept[k] = String(attrs[k]).slice(0, 256);
  const exit = attrs.exitCode !== undefined ? Number(attrs.exitCode) : undefined;
  return {
    source: 'docker',
    type,
    action: e.Action.split(':')[0]!,
    name,
    id: e.Actor.ID,
    time: new Date(Number(BigInt(e.timeNano) / 1_000_000n)).toISOString(),
    ...(exit !== undefined && Number.isFinite(exit) ? { exitCode: exit } : {}),
    attributes: kept,
  };
}

function describe(e: WatchEvent): string {
  return e.source === 'docker' ? `${e.type} ${e.name} ${e.action}` : `file ${e.path} ${e.exists ? e.event : 'removed'}`;
}
