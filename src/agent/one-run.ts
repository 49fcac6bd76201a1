/**
 * The agent's run loop (after Puppet's agent/daemon): one run at a time behind the run
 * lock, a schedule with a per-node splay, a disabled state that skips runs, signals
 * that ask for a run (SIGHUP) or a clean stop (SIGTERM/SIGINT).
 *
 * One run: agent disabled? -> a skipped run. Else take the run lock (waiting, bounded,
 * for a manual apply in progress), load the catalogue from the source (fresh, else
 * last-known-good), run the engine, classify every change as intentional or
 * corrective, record the applied state, write the report, release the lock. Metrics
 * and agent.json are written after the next run is scheduled.
 *
 * A stop signal aborts the run's signal: the engine lets the resources in flight
 * finish and starts no new ones; the report says `interrupted`, the lock is released,
 * and the agent exits 0. A second stop signal during that wait is only logged; the
 * wait is bounded by the apply timeout plus a grace period.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'winston';
import { TsconvergeError } from '../core/errors.js';
import { acquireRunLock, type RunLock } from '../engine/lock.js';
import { runCatalogue } from '../engine/run.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { Facts } from '../facts/facts.js';
import { classifyChanges, nextConvergedDigests, readConvergedDigests, writeConvergedDigests } from './change-cause.js';
import { readDisabled, type DisabledState } from './disable.js';
import { createAgentMetrics } from './metrics.js';
import { EMPTY_SUMMARY, correctiveLines, withCauses, writeRunReport, type AgentInfo, type AgentReport, type AgentResourceReport, type EventRun, type RunTrigger } from './report.js';
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

function agentInfo(d: DisabledState | null): AgentInfo {
  return d ? { enabled: false, disabledReason: d.reason, disabledBy: d.by, disabledSince: d.since } : { enabled: true };
}

export function createAgent(opts: AgentOptions): Agent {
  const log = opts.log;
  const stopCtl = new AbortController();
  const metrics = opts.metricsFile ? createAgentMetrics({ version: opts.version, node: opts.node, ...(opts.runsBefore ? { runsBefore: opts.runsBefore } : {}) }) : undefined;
  const startedAt = new Date().toISOString();
  let lastCatalogue: { compiledAt?: string } | undefined;

  const base = (trigger: RunTrigger, started: Date, runId: string) => ({
    formatVersion: 1 as const, runId, trigger, node: opts.node, version: opts.version, noop: opts.noop, startedAt: started.toISOString(),
  });

  const finishReport = (r: Omit<AgentReport, 'finishedAt' | 'durationMs'>, started: Date): AgentReport => {
    const finished = new Date();
    return { ...r, finishedAt: finished.toISOString(), durationMs: finished.getTime() - started.getTime() } as AgentReport;
  };

  const notRun = (trigger: RunTrigger, started: Date, runId: string, agent: AgentInfo, error: TsconvergeError, extra: Partial<AgentReport> = {}): AgentReport => finishReport({
    ...base(trigger, started, runId), outcome: 'not-run', catalogue: '', catalogueDigest: null, cachedCatalogue: false, agent,
    resources: [], summary: EMPTY_SUMMARY, changes: { intentional: 0, corrective: 0 }, interrupted: stopCtl.signal.aborted,
    timings: { lockWaitMs: 0, sourceMs: 0, runMs: 0 }, exitCode: 1, error: error.toJSON(), ...extra,
  }, started);

  async function runLocked(trigger: RunTrigger, started: Date, runId: string, agent: AgentInfo, lockWaitMs: number, event: EventRun | undefined): Promise<AgentReport> {
    const t0 = Date.now();
    const facts = await opts.facts();
    let src: SourceResult;
    try {
      src = await opts.source.load(facts, stopCtl.signal);
    } catch (err) {
      if (!(err instanceof TsconvergeError)) throw err;
      log.error(`catalogue: ${err.format()}\n  no last-known-good catalogue in ${opts.stateDir}: the run did not happen`);
      return notRun(trigger, started, runId, agent, err, { catalogueError: err.toJSON(), timings: { lockWaitMs, sourceMs: Date.now() - t0, runMs: 0 } });
    }
    if (src.cached) {
      log.warn(`catalogue: the fresh catalogue failed; running the last-known-good ${src.digest} (compiled ${src.compiledAt ?? 'earlier'})\n  ${src.error?.format().replace(/\n/g, '\n  ') ?? ''}`);
    }
    if (src.reused) log.debug(`catalogue: the inputs are unchanged since ${src.compiledAt}; its catalogue ${src.digest} is reused`);
    else if (src.compiledBecause) log.debug(`catalogue: compiled, ${src.compiledBecause}`);
    lastCatalogue = { ...(src.compiledAt ? { compiledAt: src.compiledAt } : {}) };
    const sourceMs = Date.now() - t0;
    // What the watching agent process follows until the next run (agent/watch).
    try { await writeWatchList(opts.stateDir, watchList(src.catalogue, opts.providers)); } catch (err) { log.warn(`cannot write the watch list: ${(err as Error).message}`); }
    let catalogue = src.catalogue;
    const marked = event ? Object.keys(event.marks).filter((id) => src.catalogue.byId.has(id)) : [];
    if (event?.targeted) {
      const closure = targetClosure(createGraph(src.catalogue, opts.providers), marked);
      catalogue = subCatalogue(src.catalogue, closure);
      log.info(`run ${runId} (event): ${marked.join(', ') || 'nothing managed'} marked; converging ${closure.size} of ${src.catalogue.resources.length} resources`);
    }
    const t1 = Date.now();
    const report = await runCatalogue(catalogue, opts.providers, {
      noop: opts.noop, root: opts.root, log, facts, signal: stopCtl.signal,
      // On SIGTERM the resource in flight finishes, bounded by the apply timeout (not a shorter grace).
      interruptGraceMs: opts.applyTimeoutMs ?? DEFAULTS.applyTimeoutMs,
      ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
      ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
      ...(opts.applyTimeoutMs ? { applyTimeoutMs: opts.applyTimeoutMs } : {}),
    });
    const runMs = Date.now() - t1;
    const converged = await readConvergedDigests(opts.stateDir);
    const caused = withCauses(report.resources, classifyChanges(src.catalogue, report.resources, converged));
    const changes = caused.changes;
    const resources = withSeen(caused.resources, event, marked);
    if (!opts.noop) await writeConvergedDigests(opts.stateDir, nextConvergedDigests(src.catalogue, report.resources, converged));
    return finishReport({
      ...report, ...base(trigger, started, runId), outcome: 'run',
      catalogueDigest: src.digest, cachedCatalogue: src.cached,
      ...(src.error ? { catalogueError: src.error.toJSON() } : {}),
      ...(src.codeVersion ? { codeVersion: src.codeVersion } : {}),
      agent, resources, changes, interrupted: stopCtl.signal.aborted,
      timings: { lockWaitMs, sourceMs, runMs },
      ...(event?.targeted ? { event: { marked } } : {}),
    }, started);
  }

  async function runOnce(trigger: RunTrigger, event?: EventRun): Promise<AgentReport> {
    const started = new Date();
    const runId = randomBytes(4).toString('hex');
    const disabled = await readDisabled(opts.stateDir);
    const agent = agentInfo(disabled);
    let report: AgentReport;
    if (disabled) {
      log.warn(`agent disabled by ${disabled.by} since ${disabled.since || 'unknown'}: ${disabled.reason}; run skipped (tsconverge agent enable resumes)`);
      report = finishReport({
        ...base(trigger, started, runId), outcome: 'skipped', catalogue: '', catalogueDigest: null, cachedCatalogue: false, agent,
        resources: [], summary: EMPTY_SUMMARY, changes: { intentional: 0, corrective: 0 }, interrupted: false,
        timings: { lockWaitMs: 0, sourceMs: 0, runMs: 0 }, exitCode: 1,
      }, started);
    } else {
      // A noop agent changes nothing, so it needs no lock (like plan).
      let lock: RunLock | null | undefined = opts.noop ? null : undefined;
      const tLock = Date.now();
      if (lock === undefined) try {
        lock = await acquireRunLock(opts.stateDir, {
          command: `tsconverge agent (${trigger} run ${runId})`, waitMs: opts.lockWaitMs, signal: stopCtl.signal,
          onWait: (held) => log.info(`run ${runId}: waiting up to ${formatDuration(opts.lockWaitMs)} for the run lock, held by pid ${held.pid} (${held.command}) since ${held.since}`),
        });
      } catch (caught) {
        // Stopped while waiting: the lock gives up with the abort reason.
        const err = stopCtl.signal.aborted && !(caught instanceof TsconvergeError)
          ? new TsconvergeError('INTERRUPTED', 'stopped while waiting for the run lock', { cause: caught })
          : caught;
        if (!(err instanceof TsconvergeError)) throw err;
        log.error(`run ${runId}: ${err.format()}${stopCtl.signal.aborted ? '' : `; waited ${formatDuration(Date.now() - tLock)}, the run did not happen`}`);
        report = notRun(trigger, started, runId, agent, err, { timings: { lockWaitMs: Date.now() - tLock, sourceMs: 0, runMs: 0 } });
      }
      if (lock !== undefined) {
        const lockWaitMs = Date.now() - tLock;
        if (lockWaitMs > 1000) log.info(`run ${runId}: waited ${formatDuration(lockWaitMs)} for the run lock`);
        try {
          report = await runLocked(trigger, started, runId, agent, lockWaitMs, event);
          await writeRunReport(opts.stateDir, report, opts.keepReports);
        } finally {
          await lock?.release();
        }
      }
    }
    if (report!.outcome !== 'run') await writeRunReport(opts.stateDir, report!, opts.keepReports);
    const r = report!;
    // A source that delivers reports (the catalogue server) gets every run's report; a failure is logged, never fatal.
    const sent = await opts.onReport?.(r);
    if (sent) log.warn(`run ${runId}: the report was not delivered: ${sent.message}`);
    const s = r.summary;
    const line = `run ${runId} (${trigger}): ${r.outcome}, exit ${r.exitCode}, ${(r.durationMs / 1000).toFixed(2)} s` +
      (r.outcome === 'run' ? `; catalogue ${r.catalogueDigest!.slice(0, 19)}${r.cachedCatalogue ? ' (last-known-good)' : ''}; ${s.changed} changed (${r.changes.intentional} intentional, ${r.changes.corrective} corrective), ${s.pending} pending, ${s.unchanged} unchanged, ${s.failed} failed, ${s.skipped} skipped${r.interrupted ? '; interrupted' : ''}` : '');
    if (r.exitCode === 4 || r.exitCode === 6 || r.outcome === 'not-run') log.error(line); else log.info(line);
    for (const c of correctiveLines(r)) log.info(`run ${runId}: corrective: ${c}`);
    return r;
  }

  /** Observe the run (unless none finished), then write the metrics file. */
  async function writeMetrics(report: AgentReport | undefined, next: Date | null): Promise<void> {
    if (!metrics || !opts.metricsFile) return;
    if (report) {
      const age = report.outcome === 'run' && lastCatalogue?.compiledAt ? Math.max(0, (Date.now() - Date.parse(lastCatalogue.compiledAt)) / 1000) : null;
      metrics.observe(report, { catalogueAgeSeconds: age, nextRun: next });
      if (report.resources.some((r) => r.id.startsWith('firewall.'))) {
        // Blocked traffic seen by monitoring without reading logs: each rule's counters.
        try {
          const { readFirewallCounters } = await import('../providers/firewall/backend.js');
          metrics.firewall(await readFirewallCounters(createProcessRunner()));
        } catch (err) {
          log.warn(`firewall counters not read for the metrics: ${(err as Error).message}`);
        }
      }
    }
    await metrics.write(opts.metricsFile);
  }

  const watch = opts.watch;
  const supervisor = createSupervisor(opts, { run: (t, e) => runOnce(t, e).then((r) => ({ ...r, ...runWindowOf(r) })), abort: () => stopCtl.abort(), publish: writeMetrics },
    watch ? (ready, full, changed) => createWatcher(watch, ready, full, changed) : undefined);
  let onceRunning = false;

  return {
    runOnce,
    async once(trigger = 'onetime', mode = 'onetime', event?: EventRun) {
      onceRunning = true;
      const report = await runOnce(trigger, event);
      try {
        if (mode === 'onetime') await writeAgentInfo(opts.stateDir, agentInfoOf(opts, startedAt, null, new Date().toISOString()));
        const next = mode === 'worker' && !stopCtl.signal.aborted ? new Date(nextSlot(Date.now(), opts.intervalMs, opts.splayMs)) : null;
        await writeMetrics(report, next);
      } catch (err) {
        log.error(`cannot write the agent state or metrics: ${(err as Error).message}`);
      }
      return report;
    },
    requestRun: () => supervisor.requestRun(),
    start: () => supervisor.start(),
    stop(signal = 'stop') {
      if (!onceRunning) { stopCtl.abort(); supervisor.stop(signal); return; }
      if (stopCtl.signal.aborted) { log.warn(`${signal}: already stopping, waiting for the run in flight`); return; }
      log.info(`${signal}: stopping after the resources in flight finish; no new resource is started`);
      stopCtl.abort();
    },
  };
}

/** What the watcher needs of a finished run: what it changed, when, and how long after its event each repair came. */
export function runWindowOf(r: AgentReport): { changed: string[]; startedAt: string; finishedAt: string; repairSeconds: number[] } {
  const repairSeconds = r.noop ? [] : r.resources.flatMap((x) => (x.seen?.by === 'event' && x.seen.afterMs !== undefined && !x.seen.via ? [x.seen.afterMs / 1000] : []));
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
    const w = (x: WatchEvent): number => (x.source === 'docker' ? WEIGHT[x.action] ?? 1 : 1);
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
    const seen: Seen = { by: 'event', event: e, ...(via ? { via } : {}), ...(r.finishedAt ? { repairedAt: r.finishedAt } : {}), ...(afterMs !== undefined ? { afterMs } : {}) };
    return { ...r, seen };
  });
}
