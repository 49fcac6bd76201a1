/**
 * S2 and S4 against the floor, pair by pair (issue 11: "within 2x of the docker CLI floor").
 * The table above measures each tool's repetitions in a row, minutes apart from the other
 * tool's, and on a shared machine the load moves in between: the floor's S2 median alone
 * went from 0.045 s to 0.06 s across three runs of one night. Here the two run back to
 * back on the same containers, in alternating order, N times; each pair gives a ratio
 * (tsconverge over the floor) and the result is the median of those ratios, as `farm-bench`
 * does. tsconverge creates the workload (its S1, untimed) and stores its compile (one
 * untimed S2 after the tree settled), as the table's S2 finds it. Every run gets the same
 * checks as in the table: the state matches the workload, no container is recreated or
 * restarted, S2 reports no change and S4 reports the pending one.
 */
import { join } from 'node:path';
import { checkState } from './checks.js';
import { checkedRun } from './checked.js';
import { cleanup, readState } from './docker.js';
import { timed, type ExecResult } from './exec.js';
import { summarize, type Summary } from './stats.js';
import { floor } from './tools/floor.js';
import { tsconverge } from './tools/tsconverge.js';
import type { Step, Tool } from './tools/types.js';
import { NAME_PREFIX, createWorkload, withChange, type Workload } from './workload.js';

export interface PairedResult {
  readonly scenario: 'S2' | 'S4';
  /** Pairs measured (each a floor run and a tsconverge run). */
  readonly pairs: number;
  /** The ratios tsconverge / floor of the pairs. */
  readonly ratio: Summary | null;
  readonly floor: Summary | null;
  readonly tsconverge: Summary | null;
  /** The first failed check, if any (the ratio does not count then). */
  readonly failed: string | null;
}

export async function benchPaired(pairs: number, session: string, workDir: string, log: (l: string) => void): Promise<PairedResult[]> {
  await cleanup();
  const w = createWorkload(`${NAME_PREFIX}net-${session}-paired`);
  const dir = join(workDir, 'paired');
  const tsDir = join(dir, 'tsconverge');
  log(`paired: creating the workload with tsconverge (untimed)`);
  const s1 = await timed(await tsconverge.prepare({ scenario: 'S1', workload: w, run: 0 }, tsDir));
  const problems = checkState(await readState(), w);
  if ((s1.exitCode !== 0 && s1.exitCode !== 2) || problems.length > 0) {
    const failed = `setup failed: ${problems[0] ?? `exit ${s1.exitCode}`}`;
    await cleanup();
    return (['S2', 'S4'] as const).map((scenario) => ({ scenario, pairs: 0, ratio: null, floor: null, tsconverge: null, failed }));
  }
  // The compile is stored by an apply whose tree settled (src/catalogue/compile-cache.ts SETTLE_MS).
  await new Promise((r) => setTimeout(r, 1100));
  await timed(await tsconverge.prepare({ scenario: 'S2', workload: w, run: 0 }, tsDir));

  const out: PairedResult[] = [];
  for (const scenario of ['S2', 'S4'] as const) {
    const ratios: number[] = [];
    const secs = { floor: [] as number[], tsconverge: [] as number[] };
    let failed: string | null = null;
    const once = async (tool: Tool, step: Step, expected: Workload): Promise<ExecResult> => {
      const { res, problems } = await checkedRun(tool, step, tool === floor ? join(dir, 'floor') : tsDir, expected, []);
      if (problems.length > 0) failed ??= problems[0]!;
      return res;
    };
    for (let r = 1; r <= pairs; r++) {
      // S4: each pair's tsconverge run is a dry run of a change not seen before (a compile).
      const tsStep: Step = { scenario, workload: scenario === 'S4' ? withChange(w, `p4-${r}`) : w, run: r };
      const floorStep: Step = { scenario, workload: w, run: r };
      const runs =
        r % 2 === 1
          ? [await once(floor, floorStep, w), await once(tsconverge, tsStep, w)]
          : [await once(tsconverge, tsStep, w), await once(floor, floorStep, w)].reverse();
      const [f, t] = runs as [ExecResult, ExecResult];
      secs.floor.push(f.seconds);
      secs.tsconverge.push(t.seconds);
      if (f.seconds > 0) ratios.push(t.seconds / f.seconds);
    }
    const ratio = summarize(ratios);
    log(`paired ${scenario}: ${pairs} pairs, median ratio ${ratio ? ratio.median.toFixed(2) : 'n/a'}${failed ? `, FAIL: ${failed}` : ''}`);
    out.push({ scenario, pairs, ratio, floor: summarize(secs.floor), tsconverge: summarize(secs.tsconverge), failed });
  }
  await cleanup();
  return out;
}
