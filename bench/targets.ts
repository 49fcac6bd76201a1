/** The speed targets issues 5 and 11 hold tsconverge to, judged on one report. */
import { PEERS, TSCONVERGE, cell, megabytes, ratioToFloor, toolNamed, type BenchReport } from './report.js';
import type { Scenario } from './tools/types.js';
import { growthVsLinear } from './scale.js';

export type TargetStatus = 'PASS' | 'FAIL' | 'n/a';

export interface TargetResult {
  readonly target: string;
  readonly actual: string;
  readonly status: TargetStatus;
}

export function judgeTargets(report: BenchReport): TargetResult[] {
  const ts = toolNamed(report, TSCONVERGE);
  const checked = (s: Scenario): boolean => {
    const c = cell(ts, s);
    return c !== null && c.passed === c.runs.length;
  };
  const withinFloor = (s: Scenario, limit: number): TargetResult => {
    const r = ratioToFloor(report, TSCONVERGE, s);
    const target = `${s} within ${limit}x of the docker CLI floor${s === 'S3' ? ', only the changed container touched' : ''}`;
    // S2 and S4 are judged on the paired ratio when it was measured (bench/paired.ts: the two
    // back to back, so a load that moves between the table's series does not move the ratio).
    const p = report.paired?.find((x) => x.scenario === s);
    if (p?.ratio) {
      const ok = p.failed === null && checked(s);
      const actual = `${p.ratio.median.toFixed(2)}x paired (median of ${p.pairs} pairs)${r === null ? '' : `; ${r.toFixed(2)}x of the table's medians`}${ok ? '' : `, checks failed${p.failed ? `: ${p.failed}` : ''}`}`;
      return { target, actual, status: p.ratio.median <= limit && ok ? 'PASS' : 'FAIL' };
    }
    if (r === null) return { target, actual: 'no data', status: 'n/a' };
    return { target, actual: `${r.toFixed(2)}x${checked(s) ? '' : ', checks failed'}`, status: r <= limit && checked(s) ? 'PASS' : 'FAIL' };
  };
  const out: TargetResult[] = [withinFloor('S2', 2)];

  // docker-compose: the issue's peer for "5x faster". It has no dry run, so S4 is held
  // against its no-change run (S2), the least it does to answer.
  const compose = cell(toolNamed(report, 'docker-compose'), 'S2');
  const fasterThanCompose = (s: Scenario): TargetResult => {
    const target = `${s} >= 5x faster than docker-compose${s === 'S4' ? ' (its S2: it has no dry run)' : ''}`;
    const t = cell(ts, s)?.seconds?.median;
    if (t === undefined || !compose?.seconds || compose.passed !== compose.runs.length) return { target, actual: 'no data', status: 'n/a' };
    const f = compose.seconds.median / t;
    return { target, actual: `${f.toFixed(1)}x faster`, status: f >= 5 && checked(s) ? 'PASS' : 'FAIL' };
  };
  out.push(fasterThanCompose('S2'), withinFloor('S4', 2), fasterThanCompose('S4'));

  const tsS2 = cell(ts, 'S2')?.seconds?.median;
  const peerS2 = PEERS.map((p) => ({ p, c: cell(toolNamed(report, p), 'S2') }))
    .filter((x) => x.c?.seconds && x.c.passed === x.c.runs.length)
    .sort((a, b) => (a.c?.seconds?.median ?? 0) - (b.c?.seconds?.median ?? 0))[0];
  const fastest = '>= 5x faster than the fastest peer in S2';
  if (tsS2 === undefined || peerS2?.c?.seconds == null) out.push({ target: fastest, actual: 'no data', status: 'n/a' });
  else {
    const f = peerS2.c.seconds.median / tsS2;
    out.push({ target: fastest, actual: `${f.toFixed(1)}x faster than ${peerS2.p}`, status: f >= 5 && checked('S2') ? 'PASS' : 'FAIL' });
  }
  out.push(withinFloor('S1', 1.3), withinFloor('S3', 1.5));

  const LIMIT_MB = 80;
  const mb = megabytes(cell(ts, 'S2')?.peakRssKb ?? null);
  const rssTarget = `peak RSS in S2 <= ${LIMIT_MB} MB`;
  out.push(
    mb === null
      ? { target: rssTarget, actual: 'no data', status: 'n/a' }
      : { target: rssTarget, actual: `${mb.toFixed(1)} MB`, status: mb <= LIMIT_MB ? 'PASS' : 'FAIL' },
  );

  const v = report.startup.summary;
  const bare = report.startup.bareNode?.summary;
  const startTarget = `--version within 1.5x of a bare node -e 0 (${report.startup.bareNode?.version ?? 'same runtime'})`;
  out.push(
    v === null || v === undefined || !bare
      ? { target: startTarget, actual: report.startup.error ?? 'no data', status: 'n/a' }
      : {
          target: startTarget,
          actual: `${(v.median * 1000).toFixed(0)} ms vs ${(bare.median * 1000).toFixed(0)} ms: ${(v.median / bare.median).toFixed(2)}x`,
          status: v.median <= 1.5 * bare.median ? 'PASS' : 'FAIL',
        },
  );

  const g = growthVsLinear(report.scale);
  const sizes = report.scale.map((p) => p.containers).join('/');
  const scaleTarget = `S2 grows at most linearly with containers (${sizes || 'no sizes'})`;
  out.push(
    g === null
      ? { target: scaleTarget, actual: 'no data', status: 'n/a' }
      : { target: scaleTarget, actual: `${g.toFixed(2)} of linear (time ratio / size ratio, first to last)`, status: g <= 1 ? 'PASS' : 'FAIL' },
  );
  return out;
}
