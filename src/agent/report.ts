/**
 * The agent's run report: the engine's JSON report (src/engine/report.ts) plus what an
 * agent run adds: the node, the catalogue digest and whether it was the last-known-good
 * (with the compile/fetch error), the agent's enabled state, and per changed resource
 * its cause (change-cause.ts). Every run writes one, also a skipped run (agent disabled) and
 * a run that could not happen (no catalogue, lock busy): monitoring reads them all.
 *
 * Files: <stateDir>/reports/<time>-<run id>.json (the newest `keep` are kept, oldest
 * removed) and <stateDir>/last_run_summary.json (the summary of the last run), both
 * written atomically. Values of sensitive attributes are masked by the engine before
 * they reach a report.
 */
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { TsconvergeError } from '../core/errors.js';
import type { Report, ResourceReport, Summary } from '../engine/report.js';
import { writeFileAtomic } from '../core/atomic.js';
import { stateLayout } from '../core/state-layout.js';
import type { Cause } from './change-cause.js';
import { describeSeen, type Seen, type WatchEvent } from '../engine/seen.js';

export type RunOutcome =
  /** The catalogue was run (applied, or planned under noop). */
  | 'run'
  /** The agent is disabled: nothing was read or changed. */
  | 'skipped'
  /** The run could not happen: no catalogue (and no last-known-good), or the run lock stayed busy. */
  | 'not-run';

export type RunTrigger = 'start' | 'schedule' | 'signal' | 'onetime' | 'event';

/**
 * What the watcher saw before a run (agent/watch): resource id -> the events that marked
 * it. `targeted`: run only the marked resources and what depends on them (a run started
 * by events); else a full run that carries them as provenance (a sweep after events the
 * rate limit left to it).
 */
export interface EventRun {
  readonly targeted: boolean;
  readonly marks: Readonly<Record<string, readonly WatchEvent[]>>;
}

export interface AgentResourceReport extends ResourceReport {
  /** For a resource that changed (or would, under noop): was the catalogue changed, or did the host drift. */
  readonly cause?: Cause;
  /** For a corrective change: what the watcher saw (an engine or file event), or `{ by: 'sweep' }`. */
  readonly seen?: Seen;
}

export interface AgentInfo {
  readonly enabled: boolean;
  readonly disabledReason?: string;
  readonly disabledBy?: string;
  readonly disabledSince?: string;
}

export interface AgentReport extends Omit<Report, 'resources' | 'exitCode'> {
  readonly outcome: RunOutcome;
  readonly runId: string;
  readonly trigger: RunTrigger;
  readonly node: string;
  /** tsconverge's version. */
  readonly version: string;
  readonly finishedAt: string;
  /** The digest of the catalogue run (null when none was). */
  readonly catalogueDigest: string | null;
  /** True when the catalogue run was the last-known-good, because fresh failed. */
  readonly cachedCatalogue: boolean;
  /** Why the fresh catalogue failed (with cachedCatalogue, or outcome not-run when there was no last-known-good). */
  readonly catalogueError?: ReturnType<TsconvergeError['toJSON']>;
  /** Why the run did not happen (outcome not-run): the catalogue error, or the run lock stayed busy. */
  readonly error?: ReturnType<TsconvergeError['toJSON']>;
  readonly codeVersion?: string;
  readonly agent: AgentInfo;
  readonly resources: readonly AgentResourceReport[];
  /** Changed resources (pending under noop) by cause. */
  readonly changes: { readonly intentional: number; readonly corrective: number };
  /** A stop signal arrived: the resource in flight finished, the rest was not started. */
  readonly interrupted: boolean;
  /** Where the time went, in ms: waiting for the run lock, loading the catalogue, the engine run. */
  readonly timings: { readonly lockWaitMs: number; readonly sourceMs: number; readonly runMs: number };
  /** A run started by events: the resources the events marked (the run covered them and what depends on them). */
  readonly event?: { readonly marked: readonly string[] };
  /** 0 no changes, 2 changes, 4 failures, 6 both; 1 did not run (also a skipped run). */
  readonly exitCode: 0 | 1 | 2 | 4 | 6;
}

export interface RunSummary {
  readonly formatVersion: 1;
  readonly node: string;
  readonly outcome: RunOutcome;
  readonly trigger: RunTrigger;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  readonly exitCode: AgentReport['exitCode'];
  readonly noop: boolean;
  readonly catalogueDigest: string | null;
  readonly cachedCatalogue: boolean;
  readonly catalogueError?: AgentReport['catalogueError'];
  readonly error?: AgentReport['error'];
  readonly agent: AgentInfo;
  readonly summary: Summary;
  readonly changes: AgentReport['changes'];
  readonly interrupted: boolean;
  readonly version: string;
  /** One line per corrective change: what was seen and when it was restored. */
  readonly corrective?: readonly string[];
  /** The full report, relative to the state directory. */
  readonly report: string;
}

export const EMPTY_SUMMARY: Summary = { total: 0, unchanged: 0, changed: 0, pending: 0, failed: 0, skipped: 0 };

/** What every report of a run says, whatever its outcome: which run, of what, and the agent's state. */
export interface RunHead {
  readonly runId: string;
  readonly trigger: RunTrigger;
  readonly node: string;
  readonly version: string;
  readonly noop: boolean;
  readonly started: Date;
  readonly agent: AgentInfo;
}

/**
 * How a run ended. `run`: the engine ran the catalogue; its report, the catalogue's source,
 * the resources with their causes. `skipped` (the agent is disabled) and `not-run` (no
 * catalogue, or the run lock stayed busy): nothing was read or changed; `error` says why a
 * run did not happen, `catalogueError` that it was the catalogue.
 */
export type RunEnd =
  | {
      readonly outcome: 'run';
      readonly engine: Report;
      readonly catalogue: { readonly digest: string; readonly cached: boolean; readonly error?: TsconvergeError; readonly codeVersion?: string };
      readonly resources: readonly AgentResourceReport[];
      readonly changes: AgentReport['changes'];
      readonly interrupted: boolean;
      readonly timings: AgentReport['timings'];
      readonly event?: AgentReport['event'];
    }
  | {
      readonly outcome: 'skipped' | 'not-run';
      readonly interrupted: boolean;
      readonly timings: AgentReport['timings'];
      readonly error?: TsconvergeError;
      readonly catalogueError?: TsconvergeError;
    };

/** The agent's report of one run: the one place its shape is made, for every outcome (exit code 1 when the catalogue was not run). */
export function agentReport(head: RunHead, end: RunEnd, finished = new Date()): AgentReport {
  const start = {
    formatVersion: 1 as const,
    runId: head.runId,
    trigger: head.trigger,
    node: head.node,
    version: head.version,
    noop: head.noop,
    startedAt: head.started.toISOString(),
  };
  const finish = { finishedAt: finished.toISOString(), durationMs: finished.getTime() - head.started.getTime() };
  if (end.outcome === 'run') {
    const c = end.catalogue;
    return {
      ...end.engine,
      ...start,
      outcome: 'run',
      catalogueDigest: c.digest,
      cachedCatalogue: c.cached,
      ...(c.error ? { catalogueError: c.error.toJSON() } : {}),
      ...(c.codeVersion ? { codeVersion: c.codeVersion } : {}),
      agent: head.agent,
      resources: end.resources,
      changes: end.changes,
      interrupted: end.interrupted,
      timings: end.timings,
      ...(end.event ? { event: end.event } : {}),
      ...finish,
    };
  }
  return {
    ...start,
    outcome: end.outcome,
    catalogue: '',
    catalogueDigest: null,
    cachedCatalogue: false,
    agent: head.agent,
    resources: [],
    summary: EMPTY_SUMMARY,
    changes: { intentional: 0, corrective: 0 },
    interrupted: end.interrupted,
    timings: end.timings,
    exitCode: 1,
    ...(end.error ? { error: end.error.toJSON() } : {}),
    ...(end.catalogueError ? { catalogueError: end.catalogueError.toJSON() } : {}),
    ...finish,
  };
}

/**
 * Mark each changed (or, under noop, pending) resource with its cause and count them. A
 * resource that failed or was skipped made no change, so it has no cause: a failed create
 * is not an intentional change.
 */
export function withCauses(
  resources: readonly ResourceReport[],
  causes: ReadonlyMap<string, Cause>,
): { resources: AgentResourceReport[]; changes: AgentReport['changes'] } {
  const changes = { intentional: 0, corrective: 0 };
  const out = resources.map((r) => {
    const cause = causes.get(r.id);
    if (!cause || (r.status !== 'changed' && r.status !== 'pending')) return r;
    changes[cause]++;
    return { ...r, cause };
  });
  return { resources: out, changes };
}

export function summaryOf(report: AgentReport, file: string): RunSummary {
  return {
    formatVersion: 1,
    node: report.node,
    outcome: report.outcome,
    trigger: report.trigger,
    startedAt: report.startedAt,
    finishedAt: report.finishedAt,
    durationMs: report.durationMs,
    exitCode: report.exitCode,
    noop: report.noop,
    catalogueDigest: report.catalogueDigest,
    cachedCatalogue: report.cachedCatalogue,
    ...(report.catalogueError ? { catalogueError: report.catalogueError } : {}),
    ...(report.error ? { error: report.error } : {}),
    agent: report.agent,
    summary: report.summary,
    changes: report.changes,
    interrupted: report.interrupted,
    version: report.version,
    ...(correctiveLines(report).length ? { corrective: correctiveLines(report) } : {}),
    report: file,
  };
}

/** "docker.container[web] destroyed at 14:02:11; restored 1.4 s later", one per corrective change. */
export function correctiveLines(report: Pick<AgentReport, 'resources' | 'noop'>): string[] {
  return report.resources
    .filter((r) => r.cause === 'corrective' && r.seen && (r.status === 'changed' || r.status === 'pending'))
    .map((r) => describeSeen(r.id, r.seen!, report.noop));
}

/** The last run with corrective changes (last_corrective.json). */
export interface LastCorrective {
  readonly runId: string;
  readonly trigger: RunTrigger;
  readonly finishedAt: string;
  readonly noop: boolean;
  readonly lines: readonly string[];
  readonly report: string;
}

export async function readLastCorrective(stateDir: string): Promise<LastCorrective | null> {
  try {
    return JSON.parse(await readFile(stateLayout(stateDir).lastCorrective, 'utf8')) as LastCorrective;
  } catch {
    return null;
  }
}

/** Write the report and the summary; remove the oldest reports beyond `keep`. Returns the report's path. */
export async function writeRunReport(stateDir: string, report: AgentReport, keep: number): Promise<string> {
  const dir = stateLayout(stateDir).reports;
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const name = `${report.startedAt.replace(/[:.]/g, '-')}-${report.runId}.json`;
  const file = path.join(dir, name);
  await writeFileAtomic(file, JSON.stringify(report, null, 2) + '\n', { mode: 0o640 });
  const summary = summaryOf(report, path.relative(stateDir, file));
  await writeFileAtomic(stateLayout(stateDir).lastRunSummary, JSON.stringify(summary, null, 2) + '\n', { mode: 0o644 });
  // The last corrective changes stay visible in `tsconverge status` after later runs with none.
  if (summary.corrective) {
    const last: LastCorrective = {
      runId: report.runId,
      trigger: report.trigger,
      finishedAt: report.finishedAt,
      noop: report.noop,
      lines: summary.corrective,
      report: summary.report,
    };
    await writeFileAtomic(stateLayout(stateDir).lastCorrective, JSON.stringify(last, null, 2) + '\n', { mode: 0o644 });
  }
  await pruneReports(dir, keep);
  return file;
}

export async function pruneReports(dir: string, keep: number): Promise<void> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort();
  for (const n of names.slice(0, Math.max(0, names.length - keep))) await unlink(path.join(dir, n)).catch(() => undefined);
}

export async function readSummary(stateDir: string): Promise<RunSummary | null> {
  try {
    return JSON.parse(await readFile(stateLayout(stateDir).lastRunSummary, 'utf8')) as RunSummary;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
