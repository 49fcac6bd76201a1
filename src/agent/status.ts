/**
 * `tsconverge status`: what an operator asks a host's agent. Read from the state
 * directory only (no running agent needed): enabled or disabled (reason, who, since),
 * the agent process and its next run (<stateDir>/agent.json, written by the agent),
 * the last run (last_run_summary.json), a run in progress (the run lock), and whether
 * the last run used the last-known-good catalogue.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readRunLock, type RunLockInfo } from '../engine/lock.js';
import { writeFileAtomic } from '../core/atomic.js';
import { stateLayout } from '../core/state-layout.js';
import { readDisabled, type DisabledState } from './disable.js';
import { readLastCorrective, readSummary, type LastCorrective, type RunSummary } from './report.js';
import { formatDuration } from './schedule.js';

/** What a running agent publishes about itself. */
export interface AgentProcessInfo {
  readonly pid: number;
  readonly startedAt: string;
  readonly node: string;
  readonly intervalMs: number;
  readonly splayMs: number;
  readonly noop: boolean;
  readonly source: string;
  readonly nextRunAt: string | null;
  readonly version: string;
  /** Set when the agent stopped cleanly. */
  readonly stoppedAt?: string;
}

/**
 * Write this process's record, unless agent.json is the record of another agent process
 * that is still running: an `agent --onetime` beside a long-running agent must not make
 * `status` say the running agent stopped (nor leave a dead pid for `kill -HUP`). Returns
 * whether it was written.
 */
export async function writeAgentInfo(stateDir: string, info: AgentProcessInfo): Promise<boolean> {
  const current = await readAgentInfo(stateDir);
  if (current && current.pid !== info.pid && current.stoppedAt === undefined && alive(current.pid)) return false;
  await writeFileAtomic(stateLayout(stateDir).agentProcess, JSON.stringify(info, null, 2) + '\n', { mode: 0o644 });
  return true;
}

async function readAgentInfo(stateDir: string): Promise<AgentProcessInfo | null> {
  try {
    return JSON.parse(await readFile(stateLayout(stateDir).agentProcess, 'utf8')) as AgentProcessInfo;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface AgentStatus {
  readonly formatVersion: 1;
  readonly stateDir: string;
  readonly enabled: boolean;
  readonly disabled: DisabledState | null;
  readonly agent: (AgentProcessInfo & { readonly running: boolean }) | null;
  /** The next run, when an agent is running. */
  readonly nextRunAt: string | null;
  readonly lastRun: RunSummary | null;
  readonly runInProgress: RunLockInfo | null;
  /** The last run that made (or, under noop, found) corrective changes, with what the watcher saw. */
  readonly lastCorrective: LastCorrective | null;
}

export async function readStatus(stateDir: string): Promise<AgentStatus> {
  const [disabled, info, lastRun, lock, lastCorrective] = await Promise.all([
    readDisabled(stateDir),
    readAgentInfo(stateDir),
    readSummary(stateDir),
    readRunLock(stateDir),
    readLastCorrective(stateDir),
  ]);
  const running = info !== null && info.stoppedAt === undefined && alive(info.pid);
  return {
    formatVersion: 1,
    stateDir,
    enabled: disabled === null,
    disabled,
    agent: info ? { ...info, running } : null,
    nextRunAt: running ? info.nextRunAt : null,
    lastRun,
    runInProgress: lock,
    lastCorrective,
  };
}

function ago(iso: string, now: number): string {
  const ms = now - Date.parse(iso);
  return Number.isFinite(ms) ? (ms >= 0 ? `${formatDuration(ms)} ago` : `in ${formatDuration(-ms)}`) : 'unknown';
}

export function formatStatus(s: AgentStatus, now = Date.now()): string {
  const out: string[] = [];
  out.push(s.disabled ? `agent:    disabled since ${s.disabled.since || 'unknown'} by ${s.disabled.by}: ${s.disabled.reason}` : 'agent:    enabled');
  if (s.agent?.running) {
    out.push(
      `process:  running, pid ${s.agent.pid} since ${s.agent.startedAt}; node ${s.agent.node}, every ${formatDuration(s.agent.intervalMs)} (splay ${formatDuration(s.agent.splayMs)})${s.agent.noop ? ', noop' : ''}; source ${s.agent.source}`,
    );
  } else {
    out.push(`process:  not running${s.agent ? ` (last pid ${s.agent.pid}${s.agent.stoppedAt ? `, stopped ${s.agent.stoppedAt}` : ''})` : ''}`);
  }
  const r = s.lastRun;
  if (!r) {
    out.push('last run: none yet');
  } else {
    const m = r.summary;
    out.push(
      `last run: ${r.finishedAt} (${ago(r.finishedAt, now)}), ${r.outcome}${r.noop ? ' (noop)' : ''}, ${(r.durationMs / 1000).toFixed(1)} s, exit ${r.exitCode}${r.interrupted ? ', interrupted' : ''}`,
    );
    if (r.outcome === 'skipped') out.push(`          skipped: agent disabled (${r.agent.disabledReason ?? ''})`);
    if (r.error) out.push(`          did not run: ${r.error.message}`);
    out.push(`          catalogue ${r.catalogueDigest ?? 'none'}${r.cachedCatalogue ? ' (LAST-KNOWN-GOOD: the fresh catalogue failed)' : ''}`);
    if (r.catalogueError) out.push(`          catalogue error: ${String(r.catalogueError.message).split('\n').join('\n            ')}`);
    out.push(
      `          resources: ${m.total} total, ${m.changed} changed, ${m.pending} pending, ${m.unchanged} unchanged, ${m.failed} failed, ${m.skipped} skipped; changes: ${r.changes.intentional} intentional, ${r.changes.corrective} corrective`,
    );
    out.push(`          report: ${path.join(s.stateDir, r.report)}`);
  }
  const c = s.lastCorrective;
  if (c) {
    out.push(`last corrective run: ${c.runId} (${c.trigger}${c.noop ? ', noop' : ''}), ${c.finishedAt} (${ago(c.finishedAt, now)})`);
    for (const l of c.lines) out.push(`          corrective: ${l}`);
  }
  out.push(`next run: ${s.nextRunAt ? `${s.nextRunAt} (${ago(s.nextRunAt, now)})` : 'none (no agent running)'}`);
  if (s.runInProgress) out.push(`run in progress: pid ${s.runInProgress.pid} since ${s.runInProgress.since} (${s.runInProgress.command})`);
  return out.join('\n') + '\n';
}
