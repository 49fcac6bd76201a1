/**
 * Drives one tool through S1-S4, checking the engine's state after every run.
 *
 * S1: torn down before each run (fresh network name each time), then converge.
 * S2: converge again; nothing may change (container IDs and StartedAt kept).
 * S3: one container's environment changed; only it may be recreated.
 * S4: dry run of such a change; nothing may change and the tool must report it.
 */
import { join } from 'node:path';
import { checkState } from './checks.js';
import { checkedRun } from './checked.js';
import { cleanup, readState } from './docker.js';
import { NAME_PREFIX, changedContainer, createWorkload, withChange, type Workload } from './workload.js';
import type { Scenario, Step, Tool, Verdict } from './tools/types.js';

export interface RunRecord {
  readonly scenario: Scenario;
  readonly run: number;
  readonly seconds: number;
  readonly peakRssKb: number | null;
  readonly exitCode: number;
  readonly verdict: Verdict;
  readonly problems: readonly string[];
  readonly pass: boolean;
}

export interface ToolResult {
  readonly tool: string;
  readonly version: string | null;
  /** Why the tool was not measured at all. */
  readonly unavailable: string | null;
  readonly reps: number;
  readonly records: readonly RunRecord[];
  /** Scenarios not measured, with the reason. */
  readonly skipped: Partial<Record<Scenario, string>>;
}

export interface RunOptions {
  readonly reps: number;
  readonly session: string;
  readonly workDir: string;
  readonly log: (line: string) => void;
}

export async function benchTool(tool: Tool, slug: string, opts: RunOptions): Promise<ToolResult> {
  const probe = await tool.probe();
  if (!probe.available) {
    opts.log(`${tool.name}: not available: ${probe.reason}`);
    return { tool: tool.name, version: null, unavailable: probe.reason, reps: 0, records: [], skipped: {} };
  }
  const records: RunRecord[] = [];
  const skipped: Partial<Record<Scenario, string>> = {};
  const dir = join(opts.workDir, slug);
  const once = async (step: Step, expectedState: Workload, expectTouched: readonly string[] | 'all'): Promise<RunRecord> => {
    const { res, verdict, problems } = await checkedRun(tool, step, dir, expectedState, expectTouched);
    const rec: RunRecord = {
      scenario: step.scenario,
      run: step.run,
      seconds: res.seconds,
      peakRssKb: res.peakRssKb,
      exitCode: res.exitCode,
      verdict,
      problems: [...problems],
      pass: problems.length === 0,
    };
    records.push(rec);
    opts.log(
      `${tool.name} ${step.scenario} run ${step.run}/${opts.reps}: ${res.seconds.toFixed(2)}s ` +
        `${rec.pass ? 'pass' : `FAIL: ${problems.slice(0, 3).join('; ')}`}`,
    );
    return rec;
  };

  // S1: from empty, torn down before every run.
  let w = createWorkload(`${NAME_PREFIX}net-${opts.session}-${slug}-1`);
  for (let r = 1; r <= opts.reps; r++) {
    const report = await cleanup();
    if (report.leftoverNetworks.length > 0) opts.log(`cleanup: engine kept networks ${report.leftoverNetworks.join(', ')} (tolerated)`);
    w = createWorkload(`${NAME_PREFIX}net-${opts.session}-${slug}-${r}`);
    await once({ scenario: 'S1', workload: w, run: r }, w, 'all');
  }
  if (checkState(await readState(), w).length > 0) {
    const reason = 'S1 did not converge; the later scenarios would measure nothing meaningful';
    for (const s of ['S2', 'S3', 'S4'] as const) skipped[s] = reason;
  } else {
    for (let r = 1; r <= opts.reps; r++) await once({ scenario: 'S2', workload: w, run: r }, w, []);
    for (let r = 1; r <= opts.reps; r++) {
      w = withChange(w, `s3-${r}`);
      await once({ scenario: 'S3', workload: w, run: r }, w, [changedContainer(w).name]);
    }
    const s4Unsupported = tool.unsupported('S4');
    if (s4Unsupported !== undefined) skipped.S4 = s4Unsupported;
    else {
      for (let r = 1; r <= opts.reps; r++) {
        await once({ scenario: 'S4', workload: withChange(w, `s4-${r}`), run: r }, w, []);
      }
    }
  }
  await cleanup();
  return { tool: tool.name, version: probe.version, unavailable: null, reps: opts.reps, records, skipped };
}
