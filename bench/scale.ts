/**
 * The scale curve (issue 11): the no-change run (S2) on N containers for each size, the
 * floor and tsconverge side by side. For each size the floor's S1 script creates the
 * workload (fastest, and the same containers for both), the state is checked, then each
 * tool's S2 runs `reps` times with the same checks as the main scenarios (tsconverge after
 * one untimed `apply --adopt`: it does not manage containers it did not create otherwise).
 */
import { join } from 'node:path';
import { checkState, checkTouched, snapshot } from './checks.js';
import { cleanup, readState } from './docker.js';
import { timed } from './exec.js';
import { checkedRun } from './checked.js';
import { summarize, type Summary } from './stats.js';
import { floor } from './tools/floor.js';
import { tsconverge } from './tools/tsconverge.js';
import { NAME_PREFIX, createWorkload } from './workload.js';

export interface ScalePoint {
  readonly containers: number;
  /** S2 seconds and peak RSS per tool; null when the size could not be set up. */
  readonly floor: { readonly seconds: Summary | null; readonly peakRssKb: number | null } | null;
  readonly tsconverge: { readonly seconds: Summary | null; readonly peakRssKb: number | null; readonly failed: string | null } | null;
  readonly error?: string;
}

export async function benchScale(sizes: readonly number[], reps: number, session: string, workDir: string, log: (l: string) => void): Promise<ScalePoint[]> {
  const out: ScalePoint[] = [];
  for (const n of sizes) {
    await cleanup();
    const w = createWorkload(`${NAME_PREFIX}net-${session}-scale-${n}`, n);
    const dir = join(workDir, `scale-${n}`);
    log(`scale ${n}: creating ${n} containers with the floor's S1 script`);
    const setup = await timed(await floor.prepare({ scenario: 'S1', workload: w, run: 1 }, dir), 30 * 60_000);
    const problems = checkState(await readState(), w);
    if (setup.exitCode !== 0 || problems.length > 0) {
      out.push({ containers: n, floor: null, tsconverge: null, error: `setup failed: ${problems[0] ?? `exit ${setup.exitCode}`}` });
      continue;
    }
    const series = async (tool: typeof floor): Promise<{ seconds: Summary | null; peakRssKb: number | null; failed: string | null }> => {
      const secs: number[] = [];
      let rss: number | null = null;
      let failed: string | null = null;
      for (let r = 1; r <= reps; r++) {
        const step = { scenario: 'S2' as const, workload: w, run: r };
        const { res, problems: p } = await checkedRun(tool, step, join(dir, tool === floor ? 'floor' : 'tsconverge'), w, []);
        if (p.length > 0) failed ??= p[0]!;
        secs.push(res.seconds);
        rss = Math.max(rss ?? 0, res.peakRssKb ?? 0);
        log(`scale ${n}: ${tool.name} S2 run ${r}/${reps}: ${res.seconds.toFixed(2)}s ${p.length ? `FAIL: ${p[0]}` : 'pass'}`);
      }
      return { seconds: summarize(secs), peakRssKb: rss, failed };
    };
    const f = await series(floor);
    // The floor made these containers: tsconverge leaves objects it did not create alone
    // (exit 4) until it adopts them. One untimed `apply --adopt` first, which must touch nothing.
    const tsDir = join(dir, 'tsconverge');
    const adoptCmd = await tsconverge.prepare({ scenario: 'S2', workload: w, run: 0 }, tsDir);
    const before = snapshot(await readState());
    const adopted = await timed({ ...adoptCmd, argv: [...adoptCmd.argv, '--adopt'] });
    const touched = checkTouched(before, snapshot(await readState()), []);
    if (adopted.exitCode !== 0 && adopted.exitCode !== 2) log(`scale ${n}: tsconverge apply --adopt exited ${adopted.exitCode}`);
    if (touched.length > 0) log(`scale ${n}: tsconverge apply --adopt touched containers: ${touched[0]}`);
    const t = await series(tsconverge);
    out.push({ containers: n, floor: { seconds: f.seconds, peakRssKb: f.peakRssKb }, tsconverge: t });
  }
  await cleanup();
  return out;
}

/** Growth of tsconverge's S2 median from the smallest size, per container, against linear: <= 1 is at most linear. */
export function growthVsLinear(points: readonly ScalePoint[]): number | null {
  const ok = points.filter((p) => p.tsconverge?.seconds && !p.tsconverge.failed);
  if (ok.length < 2) return null;
  const a = ok[0]!;
  const b = ok[ok.length - 1]!;
  const ratio = b.tsconverge!.seconds!.median / a.tsconverge!.seconds!.median;
  return ratio / (b.containers / a.containers);
}
