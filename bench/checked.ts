/**
 * One measured run with its checks, as every part of the bench makes it (the scenarios, the
 * scale curve, the pairs): the engine's state before, the timed command, the tool's own
 * verdict, then the state after against the workload, the containers touched, and what the
 * tool must say about its run.
 */
import { checkState, checkTouched, snapshot } from './checks.js';
import { readState } from './docker.js';
import { timed, type ExecResult } from './exec.js';
import type { Scenario, Step, Tool, Verdict } from './tools/types.js';
import type { Workload } from './workload.js';

export interface CheckedRun {
  readonly res: ExecResult;
  readonly verdict: Verdict;
  /** Empty when the run passed. */
  readonly problems: readonly string[];
}

/** `touched`: the containers the run may recreate ('all': not checked, S1 starts from empty). */
export async function checkedRun(tool: Tool, step: Step, dir: string, expected: Workload, touched: readonly string[] | 'all'): Promise<CheckedRun> {
  const before = snapshot(await readState());
  const res = await timed(await tool.prepare(step, dir));
  const verdict = tool.judge(step, res);
  const state = await readState();
  const problems = [...checkState(state, expected)];
  if (touched !== 'all') problems.push(...checkTouched(before, snapshot(state), touched));
  if (!verdict.ok) problems.unshift(`${tool.name} reported failure (exit ${res.exitCode})${verdict.detail ? `: ${verdict.detail}` : ''}`);
  problems.push(...reportProblems(step.scenario, verdict));
  return { res, verdict, problems };
}

/** What the tool must say about its own run, where it says anything (null: it does not). */
function reportProblems(scenario: Scenario, v: Verdict): string[] {
  if (v.changed === null) return [];
  if (scenario === 'S2' && v.changed) return ['reported a change in a no-change run'];
  if (scenario === 'S4' && !v.changed) return ['dry run did not report the pending change'];
  if ((scenario === 'S1' || scenario === 'S3') && !v.changed) return ['reported no change'];
  return [];
}
