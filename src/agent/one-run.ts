/**
 * One agent run, and the agent of one process around it (`createAgent`: the runs of
 * `--onetime`, `--in-process` and of a child of the agent, `--worker`). The schedule loop
 * is supervisor.ts (after Puppet's agent/daemon); this module is what one turn of it does.
 *
 * One run: agent disabled? -> a skipped run. Else take the run lock (waiting, bounded,
 * for a manual apply in progress), load the catalogue from the source (fresh, else
 * last-known-good), run the engine, classify every change as intentional or
 * corrective (change-cause.ts), record what converged, write the report, release the
 * lock. Every outcome's report is made by one function, report.ts `agentReport`.
 * Metrics and agent.json are written after the next run is scheduled.
 *
 * A stop signal aborts the run's signal: the engine lets the resources in flight
 * finish and starts no new ones; the report says `interrupted`, the lock is released,
 * and the agent exits 0. A second stop signal during that wait is only logged; the
 * wait is bounded by the apply timeout plus a grace period.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'winston';
import { TsconvergeError } from '../core/errors.js';
import type { Catalogue } from '../core/types.js';
import { acquireRunLock, type RunLock } from '../engine/lock.js';
import { runCatalogue } from '../engine/run.js';
import type { Report } from '../engine/report.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { Facts } from '../facts/facts.js';
import { classifyChanges, nextConvergedDigests, readConvergedDigests, writeConvergedDigests } from './change-cause.js';
import { readDisabled, type DisabledState } from './disable.js';
import { createAgentMetrics, type AgentMetrics } from './metrics.js';
import {
  agentReport,
  correctiveLines,
  withCauses,
  writeRunReport,
  type AgentInfo,
  type AgentReport,
  type AgentResourceReport,
  type EventRun,
  type RunHead,
  type RunTrigger,
} from './report.js';
import { createGraph } from '../engine/graph.js';
import { subCatalogue, targetClosure, watchList } from '../engine/watch.js';
import { writeWatchList } from './watch/state.js';
import type { Seen, WatchEvent } from '../engine/seen.js';
import { createWatcher, type WatchOptions } from './watch/watcher.js';
import { formatDuration, nextSlot } from './schedule.js';
import { agentInfoOf, createSupervisor } from './supervisor.js';
import type { CatalogueSource, SourceResult } from './source-types.js';
import { writeAgentInfo } from './status.js';
import { DEFAULTS } from '../core/defaults.js';
import { createProcessRunner } from '../core/exec.js';

export interface AgentOptions {
  readonly stateDir: string;
  readonly root: string;
  readonly node: string;
  readonly source: CatalogueSource;
  /** How the source is described in status/logs, e.g. the manifests path. */
  readonly sourceLabel: string;
  readonly providers: ProviderRegistry;
  readonly log: Logger;
  /** Facts for this run (gathered fresh at every run). */
  readonly facts: () => Promise<Facts>;
  readonly noop: boolean;
  readonly intervalMs: number;
  readonly splayMs: number;
  readonly version: string;
  readonly metricsFile?: string;
  readonly keepReports: number;
  /** How long a run waits for a run lock held by someone else (a manual apply). */
  readonly lockWaitMs: number;
  readonly concurrency?: number;
  readonly applyTimeoutMs?: number;
  readonly retries?: number;
  /** Runs by outcome before this process (a run in a child of the agent: the parent's count), for the metrics' counter. */
  readonly runsBefore?: Readonly<Record<string, number>>;
  /** Deliver each run's report (the server source); returns the error when it could not. */
  readonly onReport?: (report: AgentReport) => Promise<TsconvergeError | undefined>;
  /** Watch between runs (agent/watch/watcher.ts); the supervisor of this process owns it. */
  readonly watch?: WatchOptions;
}

export interface Agent {
  /** One run now (the run lock serialises it against anything else); `event`: what the watcher saw. */
  runOnce(trigger: RunTrigger, event?: EventRun): Promise<AgentReport>;
  /** Run at start, then on schedule, until stop(); resolves with the exit code. */
  start(): Promise<number>;
  /**
   * One run outside the schedule, then its metrics. `--onetime` (the default): agent.json
   * says stopped. A run in a child process of the agent (`worker`): agent.json is the
   * parent's; the metrics carry the next slot of the schedule.
   */
  once(trigger?: RunTrigger, mode?: 'onetime' | 'worker', event?: EventRun): Promise<AgentReport>;
  /** Ask for a run now, or right after the current one (SIGHUP). */
  requestRun(): void;
  /** Stop: the run in flight finishes its resources in flight, writes its report; then resolve. */
  stop(signal?: string): void;
}

/** What the runs of one agent process share. */
interface Shared {
  readonly opts: AgentOptions;
  /** Aborted by a stop: the run in flight finishes its resources in flight and starts no new one. */
  readonly stop: AbortController;
  /** The catalogue the last run loaded: its age goes to the metrics. */
  lastCatalogue?: { readonly compiledAt?: string };
}

/** The agent of this process: its runs, given to the supervisor (the schedule loop) for `start`, or run `once`. */
export function createAgent(opts: AgentOptions): Agent {
  const shared: Shared = { opts, stop: new AbortController() };
  const log = opts.log;
  const startedAt = new Date().toISOString();
  const publish = metricsPublisher(shared);
  const runOnce = (trigger: RunTrigger, event?: EventRun): Promise<AgentReport> => agentRun(shared, trigger, event);
  const watch = opts.watch;
  const supervisor = createSupervisor(
    opts,
    { run: (t, e) => runOnce(t, e).then((r) => ({ ...r, ...runWindowOf(r) })), abort: () => shared.stop.abort(), publish },
    watch ? (ready, full, changed) => createWatcher(watch, ready, full, changed) : undefined,
  );
  let onceRunning = false;

  return {
    runOnce,
    async once(trigger = 'onetime', mode = 'onetime', event?: EventRun) {
      onceRunning = true;
      const report = await runOnce(trigger, event);
      try {
        if (mode === 'onetime') await writeAgentInfo(opts.stateDir, agentInfoOf(opts, startedAt, null, new Date().toISOString()));
        const next = mode === 'worker' && !shared.stop.signal.aborted ? new Date(nextSlot(Date.now(), opts.intervalMs, opts.splayMs)) : null;
        await publish(report, next);
      } catch (err) {
        log.error(`cannot write the agent state or metrics: ${(err as Error).message}`);
      }
      return report;
    },
    requestRun: () => supervisor.requestRun(),
    start: () => supervisor.start(),
    stop(signal = 'stop') {
      if (!onceRunning) {
        shared.stop.abort();
        supervisor.stop(signal);
        return;
      }
      if (shared.stop.signal.aborted) {
        log.warn(`${signal}: already stopping, waiting for the run in flight`);
        return;
      }
      log.info(`${signal}: stopping after the resources in flight finish; no new resource is started`);
      shared.stop.abort();
    },
  };
}

function agentInfo(d: DisabledState | null): AgentInfo {
  return d ? { enabled: false, disabledReason: d.reason, disabledBy: d.by, disabledSince: d.since } : { enabled: true };
}

/** One run, whatever its outcome: its report written, delivered (the server source) and logged. */
async function agentRun(s: Shared, trigger: RunTrigger, event: EventRun | undefined): Promise<AgentReport> {
  const { opts } = s;
  const started = new Date();
  const runId = randomBytes(4).toString('hex');
  const disabled = await readDisabled(opts.stateDir);
  const head: RunHead = { runId, trigger, node: opts.node, version: opts.version, noop: opts.noop, started, agent: agentInfo(disabled) };
  let report: AgentReport;
  if (disabled) {
    opts.log.warn(`agent disabled by ${disabled.by} since ${disabled.since || 'unknown'}: ${disabled.reason}; run skipped (tsconverge agent enable resumes)`);
    report = agentReport(head, { outcome: 'skipped', interrupted: false, timings: { lockWaitMs: 0, sourceMs: 0, runMs: 0 } });
    await writeRunReport(opts.stateDir, report, opts.keepReports);
  } else {
    report = await runBehindLock(s, head, event);
  }
  // A source that delivers reports (the catalogue server) gets every run's report; a failure is logged, never fatal.
  const sent = await opts.onReport?.(report);
  if (sent) opts.log.warn(`run ${runId}: the report was not delivered: ${sent.message}`);
  logRun(opts.log, report);
  return report;
}

/** Take the run lock, run, write the report while still holding the lock (the lock never taken: a not-run report, written too). */
async function runBehindLock(s: Shared, head: RunHead, event: EventRun | undefined): Promise<AgentReport> {
  const { opts } = s;
  const taken = await takeRunLock(s, head);
  if ('notRun' in taken) {
    await writeRunReport(opts.stateDir, taken.notRun, opts.keepReports);
    return taken.notRun;
  }
  try {
    const report = await runLocked(s, head, taken.lockWaitMs, event);
    await writeRunReport(opts.stateDir, report, opts.keepReports);
    return report;
  } finally {
    await taken.lock?.release();
  }
}

/** The run lock (none under noop: a noop agent changes nothing, like plan), or the report of a run that did not happen because it stayed busy (or a stop came). */
async function takeRunLock(s: Shared, head: RunHead): Promise<{ lock: RunLock | null; lockWaitMs: number } | { notRun: AgentReport }> {
  const { opts, stop } = s;
  const log = opts.log;
  const tLock = Date.now();
  let lock: RunLock | null = null;
  if (!opts.noop)
    try {
      lock = await acquireRunLock(opts.stateDir, {
        command: `tsconverge agent (${head.trigger} run ${head.runId})`,
        waitMs: opts.lockWaitMs,
        signal: stop.signal,
        onWait: (held) =>
          log.info(
            `run ${head.runId}: waiting up to ${formatDuration(opts.lockWaitMs)} for the run lock, held by pid ${held.pid} (${held.command}) since ${held.since}`,
          ),
      });
    } catch (caught) {
      // Stopped while waiting: the lock gives up with the abort reason.
      const err =
        stop.signal.aborted && !(caught instanceof TsconvergeError)
          ? new TsconvergeError('INTERRUPTED', 'stopped while waiting for the run lock', { cause: caught })
          : caught;
      if (!(err instanceof TsconvergeError)) throw err;
      log.error(`run ${head.runId}: ${err.format()}${stop.signal.aborted ? '' : `; waited ${formatDuration(Date.now() - tLock)}, the run did not happen`}`);
      return {
        notRun: agentReport(head, {
          outcome: 'not-run',
          interrupted: stop.signal.aborted,
          timings: { lockWaitMs: Date.now() - tLock, sourceMs: 0, runMs: 0 },
          error: err,
        }),
      };
    }
  const lockWaitMs = Date.now() - tLock;
  if (lockWaitMs > 1000) log.info(`run ${head.runId}: waited ${formatDuration(lockWaitMs)} for the run lock`);
  return { lock, lockWaitMs };
}

/** Under the lock: load the catalogue, run the engine on it (or on what the event marked), give each change its cause. */
async function runLocked(s: Shared, head: RunHead, lockWaitMs: number, event: EventRun | undefined): Promise<AgentReport> {
  const { opts, stop } = s;
  const t0 = Date.now();
  const facts = await opts.facts();
  const src = await loadCatalogue(s, facts);
  if (src instanceof TsconvergeError) {
    return agentReport(head, {
      outcome: 'not-run',
      interrupted: stop.signal.aborted,
      timings: { lockWaitMs, sourceMs: Date.now() - t0, runMs: 0 },
      error: src,
      catalogueError: src,
    });
  }
  const sourceMs = Date.now() - t0;
  // What the watching agent process follows until the next run (agent/watch).
  try {
    await writeWatchList(opts.stateDir, watchList(src.catalogue, opts.providers));
  } catch (err) {
    opts.log.warn(`cannot write the watch list: ${(err as Error).message}`);
  }
  const { catalogue, marked } = eventScope(opts, head.runId, src.catalogue, event);
  const t1 = Date.now();
  const engine = await runEngine(s, catalogue, facts);
  const runMs = Date.now() - t1;
  const { resources, changes } = await recordCauses(opts, src.catalogue, engine, event, marked);
  return agentReport(head, {
    outcome: 'run',
    engine,
    catalogue: src,
    resources,
    changes,
    interrupted: stop.signal.aborted,
    timings: { lockWaitMs, sourceMs, runMs },
    ...(event?.targeted ? { event: { marked } } : {}),
  });
}

/** The catalogue from the source (fresh, else last-known-good), logged; the error when there is neither. */
async function loadCatalogue(s: Shared, facts: Facts): Promise<SourceResult | TsconvergeError> {
  const { opts } = s;
  const log = opts.log;
  let src: SourceResult;
  try {
    src = await opts.source.load(facts, s.stop.signal);
  } catch (err) {
    if (!(err instanceof TsconvergeError)) throw err;
    log.error(`catalogue: ${err.format()}\n  no last-known-good catalogue in ${opts.stateDir}: the run did not happen`);
    return err;
  }
  if (src.cached) {
    log.warn(
      `catalogue: the fresh catalogue failed; running the last-known-good ${src.digest} (compiled ${src.compiledAt ?? 'earlier'})\n  ${src.error?.format().replace(/\n/g, '\n  ') ?? ''}`,
    );
  }
  if (src.reused) log.debug(`catalogue: the inputs are unchanged since ${src.compiledAt}; its catalogue ${src.digest} is reused`);
  else if (src.compiledBecause) log.debug(`catalogue: compiled, ${src.compiledBecause}`);
  s.lastCatalogue = { ...(src.compiledAt ? { compiledAt: src.compiledAt } : {}) };
  return src;
}

/** What a run converges: the whole catalogue, or, for a run started by events, what they marked and what depends on it. */
function eventScope(opts: AgentOptions, runId: string, full: Catalogue, event: EventRun | undefined): { catalogue: Catalogue; marked: string[] } {
  const marked = event ? Object.keys(event.marks).filter((id) => full.byId.has(id)) : [];
  if (!event?.targeted) return { catalogue: full, marked };
  const closure = targetClosure(createGraph(full, opts.providers), marked);
  opts.log.info(`run ${runId} (event): ${marked.join(', ') || 'nothing managed'} marked; converging ${closure.size} of ${full.resources.length} resources`);
  return { catalogue: subCatalogue(full, closure), marked };
}

/** The engine's run; a stop lets the resources in flight finish, bounded by the apply timeout. */
function runEngine(s: Shared, catalogue: Catalogue, facts: Facts): Promise<Report> {
  const { opts } = s;
  return runCatalogue(catalogue, opts.providers, {
    noop: opts.noop,
    root: opts.root,
    log: opts.log,
    facts,
    signal: s.stop.signal,
    // On SIGTERM the resource in flight finishes, bounded by the apply timeout (not a shorter grace).
    interruptGraceMs: opts.applyTimeoutMs ?? DEFAULTS.applyTimeoutMs,
    ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
    ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
    ...(opts.applyTimeoutMs ? { applyTimeoutMs: opts.applyTimeoutMs } : {}),
  });
}

/** Each change's cause and provenance; then, unless noop, the record of what converged. */
async function recordCauses(
  opts: AgentOptions,
  catalogue: Catalogue,
  engine: Report,
  event: EventRun | undefined,
  marked: readonly string[],
): Promise<{ resources: AgentResourceReport[]; changes: AgentReport['changes'] }> {
  const converged = await readConvergedDigests(opts.stateDir);
  const caused = withCauses(engine.resources, classifyChanges(catalogue, engine.resources, converged));
  const resources = withSeen(caused.resources, event, marked);
  if (!opts.noop) await writeConvergedDigests(opts.stateDir, nextConvergedDigests(catalogue, engine.resources, converged));
  return { resources, changes: caused.changes };
}

/** One line per run (an error when it failed or did not happen), then one per corrective change. */
function logRun(log: Logger, r: AgentReport): void {
  const s = r.summary;
  const line =
    `run ${r.runId} (${r.trigger}): ${r.outcome}, exit ${r.exitCode}, ${(r.durationMs / 1000).toFixed(2)} s` +
    (r.outcome === 'run'
      ? `; catalogue ${r.catalogueDigest!.slice(0, 19)}${r.cachedCatalogue ? ' (last-known-good)' : ''}; ${s.changed} changed (${r.changes.intentional} intentional, ${r.changes.corrective} corrective), ${s.pending} pending, ${s.unchanged} unchanged, ${s.failed} failed, ${s.skipped} skipped${r.interrupted ? '; interrupted' : ''}`
      : '');
  if (r.exitCode === 4 || r.exitCode === 6 || r.outcome === 'not-run') log.error(line);
  else log.info(line);
  for (const c of correctiveLines(r)) log.info(`run ${r.runId}: corrective: ${c}`);
}

/** Observe the run (unless none finished), then write the metrics file; nothing without --metrics-file. */
function metricsPublisher(s: Shared): (report: AgentReport | undefined, next: Date | null) => Promise<void> {
  const { opts } = s;
  const metrics = opts.metricsFile
    ? createAgentMetrics({ version: opts.version, node: opts.node, ...(opts.runsBefore ? { runsBefore: opts.runsBefore } : {}) })
    : undefined;
  return async (report, next) => {
    if (!metrics || !opts.metricsFile) return;
    if (report) {
      const age = report.outcome === 'run' && s.lastCatalogue?.compiledAt ? Math.max(0, (Date.now() - Date.parse(s.lastCatalogue.compiledAt)) / 1000) : null;
      metrics.observe(report, { catalogueAgeSeconds: age, nextRun: next });
      if (report.resources.some((r) => r.id.startsWith('firewall.'))) await observeFirewall(metrics, opts.log);
    }
    await metrics.write(opts.metricsFile);
  };
}

/** Blocked traffic seen by monitoring without reading logs: each rule's counters. */
async function observeFirewall(metrics: AgentMetrics, log: Logger): Promise<void> {
  try {
    const { readFirewallCounters } = await import('../providers/firewall/backend.js');
    metrics.firewall(await readFirewallCounters(createProcessRunner()));
  } catch (err) {
    log.warn(`firewall counters not read for the metrics: ${(err as Error).message}`);
  }
}

/** What the watcher needs of a finished run: what it changed, when, and how long after its event each repair came. */
export function runWindowOf(r: AgentReport): { changed: string[]; startedAt: string; finishedAt: string; repairSeconds: number[] } {
  const repairSeconds = r.noop
    ? []
    : r.resources.flatMap((x) => (x.seen?.by === 'event' && x.seen.afterMs !== undefined && !x.seen.via ? [x.seen.afterMs / 1000] : []));
  return { changed: changedIds(r), startedAt: r.startedAt, finishedAt: r.finishedAt, repairSeconds };
}

/** Resources a run changed (the watcher drops the events of its own changes). */
export function changedIds(r: Pick<AgentReport, 'resources'>): string[] {
  return r.resources.filter((x) => x.status === 'changed').map((x) => x.id);
}

/** Which engine action says the most about a drift: a removal over a death over the rest. */
const WEIGHT: Readonly<Record<string, number>> = { destroy: 6, oom: 5, die: 4, disconnect: 3, update: 3, rename: 3, kill: 2, stop: 2 };

function strongest(events: readonly WatchEvent[]): WatchEvent {
  let best = events[0]!;
  for (const e of events) {
    const w = (x: WatchEvent): number => (x.source === 'docker' ? (WEIGHT[x.action] ?? 1) : 1);
    if (w(e) >= w(best)) best = e;
  }
  return best;
}

/** Provenance of each corrective change: the event that marked it (or a resource it depends on), else "seen at sweep". */
export function withSeen(resources: readonly AgentResourceReport[], event: EventRun | undefined, marked: readonly string[]): AgentResourceReport[] {
  return resources.map((r) => {
    if (r.cause !== 'corrective' || (r.status !== 'changed' && r.status !== 'pending')) return r;
    const own = event?.marks[r.id];
    const via = own?.length ? undefined : event?.targeted ? marked.find((id) => event.marks[id]?.length) : undefined;
    const events = own?.length ? own : via ? event!.marks[via]! : undefined;
    if (!events) return { ...r, seen: { by: 'sweep' } satisfies Seen };
    const e = strongest(events);
    const afterMs = r.finishedAt ? Math.max(0, Date.parse(r.finishedAt) - Date.parse(e.time)) : undefined;
    const seen: Seen = {
      by: 'event',
      event: e,
      ...(via ? { via } : {}),
      ...(r.finishedAt ? { repairedAt: r.finishedAt } : {}),
      ...(afterMs !== undefined ? { afterMs } : {}),
    };
    return { ...r, seen };
  });
}
