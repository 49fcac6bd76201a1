/** The speed targets issue 5 holds tsconverge to, judged on one report. */
import {
  PEERS, TSCONVERGE, cell, megabytes, ratioToFloor, toolNamed, type BenchReport,
} from './report.js';
import type { Scenario } from './tools/types.js';

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
    if (r === null) return { target, actual: 'no data', status: 'n/a' };
    return { target, actual: `${r.toFixed(2)}x${checked(s) ? '' : ', checks failed'}`, status: r <= limit && checked(s) ? 'PASS' : 'FAIL' };
  };
  const out: TargetResult[] = [withinFloor('S2', 2)];

  const tsS2 = cell(ts, 'S2')?.seconds?.median;
  const peerS2 = PEERS
    .map((p) => ({ p, c: cell(toolNamed(report, p), 'S2') }))
    .filter((x) => x.c?.seconds && x.c.passed === x.c.runs.length)
    .sort((a, b) => (a.c?.seconds?.median ?? 0) - (b.c?.seconds?.median ?? 0))[0];
  const fastest = '>= 5x faster than the fastest peer in S2';
  if (tsS2 === undefined || peerS2?.c?.seconds == null) out.push({ target: fastest, actual: 'no data', status: 'n/a' });
  else {
    const f = peerS2.c.seconds.median / tsS2;
    out.push({ target: fastest, actual: `${f.toFixed(1)}x faster than ${peerS2.p}`, status: f >= 5 && checked('S2') ? 'PASS' : 'FAIL' });
  }
  out.push(withinFloor('S1', 1.3), withinFloor('S3', 1.5));

  const mb = megabytes(cell(ts, 'S2')?.peakRssKb ?? null);
  out.push(mb === null
    ? { target: 'peak RSS in S2 <= 100 MB', actual: 'no data', status: 'n/a' }
    : { target: 'peak RSS in S2 <= 100 MB', actual: `${mb.toFixed(1)} MB`, status: mb <= 100 ? 'PASS' : 'FAIL' });

  const v = report.startup.summary;
  out.push(v === null
    ? { target: '--version cold start < 200 ms', actual: report.startup.error ?? 'no data', status: 'n/a' }
    : { target: '--version cold start < 200 ms', actual: `${(v.median * 1000).toFixed(0)} ms median`, status: v.median < 0.2 ? 'PASS' : 'FAIL' });
  return out;
}
