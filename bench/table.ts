/** Renders a BenchReport as the one printed table, with targets and notes below it. */
import { cpus } from 'node:os';
import { FLOOR, TSCONVERGE, cell, megabytes, ratioToFloor, type BenchReport } from './report.js';
import { judgeTargets } from './targets.js';
import { SCENARIOS, type Scenario } from './tools/types.js';
import { STOP_TIMEOUT } from './workload.js';

const SCENARIO_NAMES: Readonly<Record<Scenario, string>> = {
  S1: 'S1 from empty',
  S2: 'S2 no change',
  S3: 'S3 one change',
  S4: 'S4 dry run',
};

export function renderReport(report: BenchReport): string {
  const rows: string[][] = [['scenario', 'tool', 'n', 'median', 'min-max', 'x floor', 'peak RSS', 'check']];
  for (const s of SCENARIOS) {
    for (const t of report.tools) {
      const name = SCENARIO_NAMES[s];
      if (t.unavailable !== null) {
        rows.push([name, t.tool, '-', 'not available', '', '', '', '']);
        continue;
      }
      const skipped = t.skipped[s];
      const c = cell(t, s);
      if (c === null || c.seconds === null) {
        rows.push([name, t.tool, '-', 'n/a', skipped ?? '', '', '', '']);
        continue;
      }
      const ratio = ratioToFloor(report, t.tool, s);
      const failed = c.runs.find((r) => !r.pass);
      rows.push([
        name,
        t.tool,
        String(c.seconds.n),
        secs(c.seconds.median),
        `${secs(c.seconds.min)}-${secs(c.seconds.max)}`,
        t.tool === FLOOR ? '1.00' : ratio === null ? '' : ratio.toFixed(2),
        mb(c.peakRssKb),
        c.passed === c.runs.length ? `pass ${c.passed}/${c.runs.length}` : `FAIL ${c.passed}/${c.runs.length}: ${failed?.problems[0] ?? ''}`,
      ]);
    }
  }
  const extra: string[][] = [];
  const st = report.startup;
  extra.push([
    'tsconverge --version',
    st.method,
    st.summary ? String(st.summary.n) : '-',
    st.summary ? ms(st.summary.median) : 'n/a',
    st.summary ? `${ms(st.summary.min)}-${ms(st.summary.max)}` : (st.error ?? ''),
    '',
    mb(st.peakRssKb),
    '',
  ]);
  const bare = st.bareNode;
  if (bare) {
    extra.push([
      `node -e 0 (${bare.version})`,
      st.method,
      bare.summary ? String(bare.summary.n) : '-',
      bare.summary ? ms(bare.summary.median) : 'n/a',
      bare.summary ? `${ms(bare.summary.min)}-${ms(bare.summary.max)}` : '',
      '',
      mb(bare.peakRssKb),
      '',
    ]);
  }
  for (const cat of report.catalogue) {
    extra.push([
      'catalogue',
      cat.target,
      cat.ok ? String(cat.iterations) : '-',
      cat.ok ? `${cat.perSecond.toFixed(1)}/s` : 'n/a',
      cat.ok ? `first ${cat.firstMs.toFixed(0)} ms` : (cat.error ?? '').slice(0, 100),
      '',
      mb(cat.peakRssKb),
      '',
    ]);
  }

  const lines: string[] = [];
  const { start, end } = report.loadAverage;
  lines.push(`tsconverge benchmark  ${report.date}  ${report.machine}, load average ${start.toFixed(1)} at start, ${end.toFixed(1)} at end`);
  lines.push(Object.values(report.versions).join(', '));
  lines.push('');
  lines.push(...formatTable([...rows, [], ...extra]));
  if (report.scale.length > 0) {
    lines.push('');
    lines.push('scale: S2 no change by container count (median of the repetitions)');
    const srows: string[][] = [['containers', 'floor', 'tsconverge', 'x floor', 'tsconverge per container', 'peak RSS', 'check']];
    for (const p of report.scale) {
      const f = p.floor?.seconds?.median;
      const t = p.tsconverge?.seconds?.median;
      srows.push([
        String(p.containers),
        f === undefined ? 'n/a' : secs(f),
        t === undefined ? 'n/a' : secs(t),
        f && t ? (t / f).toFixed(2) : '',
        t === undefined ? '' : `${((t * 1000) / p.containers).toFixed(1)} ms`,
        mb(p.tsconverge?.peakRssKb ?? null),
        (p.error ?? p.tsconverge?.failed ?? 'pass').split('\n')[0]!.slice(0, 120),
      ]);
    }
    lines.push(...formatTable(srows));
  }
  if (report.paired && report.paired.length > 0) {
    lines.push('');
    lines.push('paired: the floor and tsconverge back to back on the same containers, alternating which goes first');
    const prows: string[][] = [['scenario', 'pairs', 'floor median', 'tsconverge median', 'ratio median', 'ratio min-max', 'check']];
    for (const p of report.paired) {
      prows.push([
        SCENARIO_NAMES[p.scenario],
        String(p.pairs),
        p.floor ? secs3(p.floor.median) : 'n/a',
        p.tsconverge ? secs3(p.tsconverge.median) : 'n/a',
        p.ratio ? p.ratio.median.toFixed(2) : 'n/a',
        p.ratio ? `${p.ratio.min.toFixed(2)}-${p.ratio.max.toFixed(2)}` : '',
        (p.failed ?? 'pass').split('\n')[0]!.slice(0, 120),
      ]);
    }
    lines.push(...formatTable(prows));
  }
  lines.push('');
  lines.push('targets (tsconverge):');
  for (const t of judgeTargets(report)) lines.push(`  ${t.status.padEnd(4)}  ${t.target.padEnd(72)} ${t.actual}`);
  lines.push('');
  lines.push(...notes(report).map((n) => `note: ${n}`));
  return lines.join('\n');
}

function notes(report: BenchReport): string[] {
  const out = [
    `busybox sleep as PID 1 ignores SIGTERM, so every graceful stop in S3 waits the full ${STOP_TIMEOUT} s stop timeout, for every tool; ${TSCONVERGE} uses the same ${STOP_TIMEOUT} s timeout.`,
    'floor: S1 parallel `docker run` (xargs -P); S2 and S4 one batched `docker ps` + one `docker inspect` of all (a dry run costs at least a read); S3 docker stop/rm/run of one container.',
    'peak RSS: GNU time "Maximum resident set size", the largest single process of the tree (not a sum over child processes), highest over the runs.',
    'check: after every run the engine state is compared with the workload (50 running containers with env, label, restart, memory, network, mount; network; volumes); S2/S4 must keep every container ID and StartedAt; S3 must recreate only the changed container.',
    'docker-compose 1.29 has no dry-run mode: S4 n/a.',
    ...(report.paired && report.paired.length > 0
      ? [
          "paired: S2 and S4 within 2x of the floor are judged on the median of the pair ratios (the table's ratio of medians is shown beside it); S4 pairs: a dry run of a change not seen before against the floor's read of all.",
        ]
      : []),
  ];
  for (const cat of report.catalogue) {
    const projection = cat.ok && cat.target === 'fleet-compile' ? `; 10,000 nodes at this rate: ${(10_000 / cat.perSecond / 60).toFixed(1)} min` : '';
    out.push(`catalogue ${cat.target}: ${cat.description}, per second after the first; peak RSS includes tsx${projection}.`);
  }
  const cores = cpus().length;
  if (Math.max(report.loadAverage.start, report.loadAverage.end) > cores) {
    out.push(
      `the machine was busy (load average above its ${cores} cores): other work competed with every tool; compare ratios, not absolute times, and re-run on a quiet machine.`,
    );
  }
  const { reps, peerReps } = report.options;
  if (peerReps !== reps) out.push(`ansible and puppet ran ${peerReps} repetition(s) per scenario (slow peers); the others ${reps}.`);
  if (report.leftoverNetworks.length > 0) {
    out.push(
      `the engine kept ${report.leftoverNetworks.length} emptied bench network(s) (Engine 20.10 "active endpoints" quirk): ${report.leftoverNetworks.join(', ')}`,
    );
  }
  return out;
}

function formatTable(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const r of rows)
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, i === r.length - 1 ? 0 : c.length);
    });
  const line = (r: readonly string[]): string =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const out = rows.map((r) => (r.length === 0 ? '' : line(r)));
  const header = out[0] ?? '';
  return [header, '-'.repeat(Math.max(header.length, 100)), ...out.slice(1)];
}

const secs = (s: number): string => `${s.toFixed(2)}s`;
const secs3 = (s: number): string => `${s.toFixed(3)}s`;
const ms = (s: number): string => `${(s * 1000).toFixed(0)}ms`;
const mb = (kib: number | null): string => {
  const m = megabytes(kib);
  return m === null ? '' : `${m.toFixed(0)} MB`;
};
