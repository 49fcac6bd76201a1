/**
 * A server-rendered SVG chart of a node's runs, oldest on the left: a bar per run for its
 * duration (left scale), a line with a point per run for its changes (right scale), failed
 * runs' points drawn as squares. No script: the runs table beside it gives the numbers.
 * Readable from one run (one bar of normal width, its time on the axis) to thousands: past
 * MAX_BARS runs, consecutive runs share a bar (the longest duration, the changes and
 * failures added up). Time labels carry seconds when the runs span less than an hour, the
 * date when they span more than a day.
 */
import { html, type Html } from './html.js';

export interface ChartRun {
  readonly at: string;
  readonly durationMs: number;
  readonly changed: number;
  readonly failed: number;
}

const W = 720,
  H = 230,
  L = 56,
  R = 48,
  T = 16,
  B = 46;

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= v)!;
}

const fmtSeconds = (ms: number): string => (ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`);

/** At most this many bars; more runs are grouped. */
export const MAX_BARS = 120;

/** Consecutive runs grouped into at most `max` bars. */
export function groupRuns(runs: readonly ChartRun[], max = MAX_BARS): { runs: ChartRun[]; perBar: number } {
  if (runs.length <= max) return { runs: [...runs], perBar: 1 };
  const perBar = Math.ceil(runs.length / max);
  const out: ChartRun[] = [];
  for (let i = 0; i < runs.length; i += perBar) {
    const g = runs.slice(i, i + perBar);
    out.push({
      at: g[g.length - 1]!.at,
      durationMs: Math.max(...g.map((r) => r.durationMs)),
      changed: g.reduce((n, r) => n + r.changed, 0),
      failed: g.reduce((n, r) => n + r.failed, 0),
    });
  }
  return { runs: out, perBar };
}

/** A time label whose precision fits the span of the chart. */
export function timeLabel(iso: string, spanMs: number): string {
  const t = iso.replace('T', ' ');
  if (spanMs < 3_600_000) return t.slice(11, 19);
  if (spanMs < 2 * 86_400_000) return t.slice(5, 16);
  return t.slice(0, 10);
}

export function renderRunChart(all: readonly ChartRun[], id = 'runs-chart'): Html {
  if (all.length === 0) return html`<p>No runs reported yet.</p>`;
  const { runs, perBar } = groupRuns(all);
  const maxD = niceMax(Math.max(...runs.map((r) => r.durationMs)));
  const maxC = niceMax(Math.max(...runs.map((r) => r.changed)));
  const pw = W - L - R,
    ph = H - T - B;
  // A few runs do not stretch into wide slabs: each slot is at most a tenth of the plot.
  const step = Math.min(pw / runs.length, pw / 10);
  const x0 = L + (pw - step * runs.length) / 2;
  const bw = Math.max(1.5, Math.min(28, step * 0.7));
  const x = (i: number): number => x0 + step * i + step / 2;
  const yD = (ms: number): number => T + ph - (ms / maxD) * ph;
  const yC = (n: number): number => T + ph - (n / maxC) * ph;
  const f = (n: number): string => n.toFixed(1);
  const what = perBar > 1 ? `${perBar} runs up to ` : '';
  const bars = runs.map(
    (r, i) =>
      html`<rect class="bar" x="${f(x(i) - bw / 2)}" y="${f(yD(r.durationMs))}" width="${f(bw)}" height="${f(Math.max(1, T + ph - yD(r.durationMs)))}"><title>${what}${r.at}: ${fmtSeconds(r.durationMs)}, ${r.changed} changed, ${r.failed} failed</title></rect>`,
  );
  const line = runs.map((r, i) => `${i ? 'L' : 'M'}${f(x(i))},${f(yC(r.changed))}`).join(' ');
  const dot = Math.min(3.5, Math.max(1.5, step / 3));
  const points = runs.map((r, i) =>
    r.failed > 0
      ? html`<rect class="pt failed" x="${f(x(i) - dot - 0.5)}" y="${f(yC(r.changed) - dot - 0.5)}" width="${f(2 * dot + 1)}" height="${f(2 * dot + 1)}"/>`
      : html`<circle class="pt" cx="${f(x(i))}" cy="${f(yC(r.changed))}" r="${f(dot)}"/>`,
  );
  const span = Date.parse(all[all.length - 1]!.at) - Date.parse(all[0]!.at);
  // Time labels under the first, middle and last bars (one label for one bar).
  const ticks = runs.length === 1 ? [0] : runs.length < 5 ? [0, runs.length - 1] : [0, Math.floor((runs.length - 1) / 2), runs.length - 1];
  const anchor = (i: number): string => (runs.length === 1 || (i !== 0 && i !== runs.length - 1) ? 'middle' : i === 0 ? 'start' : 'end');
  const tx = (i: number): number => (anchor(i) === 'start' ? Math.min(x(i) - bw / 2, x(i)) : anchor(i) === 'end' ? Math.max(x(i) + bw / 2, x(i)) : x(i));
  const first = all[0]!.at.slice(0, 19).replace('T', ' ');
  const last = all[all.length - 1]!.at.slice(0, 19).replace('T', ' ');
  const unit = span >= 2 * 86_400_000 ? '' : ` (UTC${span < 3_600_000 ? `, ${first.slice(0, 10)}` : ''})`;
  return html`<figure class="chart">
<svg id="${id}" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="${id}-title ${id}-desc" xmlns="http://www.w3.org/2000/svg" data-runs="${all.length}" data-bars="${runs.length}">
<title id="${id}-title">Run durations and changes, ${all.length === 1 ? 'one run' : `last ${all.length} runs`}${perBar > 1 ? `, ${perBar} runs per bar` : ''}</title>
<desc id="${id}-desc">Bars: duration of each run${perBar > 1 ? ' (the longest of its group)' : ''}, up to ${fmtSeconds(maxD)}. Line: resources changed per run, up to ${maxC}. Squares mark runs with failures. ${all.length === 1 ? `At ${first}` : `From ${first} to ${last}`} UTC.</desc>
<g class="axes"><line x1="${L}" y1="${T + ph}" x2="${W - R}" y2="${T + ph}"/><line x1="${L}" y1="${T}" x2="${L}" y2="${T + ph}"/><line x1="${W - R}" y1="${T}" x2="${W - R}" y2="${T + ph}"/><line class="grid" x1="${L}" y1="${T + ph / 2}" x2="${W - R}" y2="${T + ph / 2}"/></g>
<g class="labels">
<text x="${L - 6}" y="${T + 4}" text-anchor="end">${fmtSeconds(maxD)}</text><text x="${L - 6}" y="${T + ph / 2 + 4}" text-anchor="end">${fmtSeconds(maxD / 2)}</text><text x="${L - 6}" y="${T + ph}" text-anchor="end">0 s</text>
<text x="${W - R + 6}" y="${T + 4}">${maxC}</text><text x="${W - R + 6}" y="${T + ph / 2 + 4}">${maxC / 2}</text><text x="${W - R + 6}" y="${T + ph}">0</text>
${ticks.map((i) => html`<text class="tick" x="${f(tx(i))}" y="${H - 18}" text-anchor="${anchor(i)}">${timeLabel(runs[i]!.at, span)}</text>`)}
<text class="unit" x="${L + pw / 2}" y="${H - 4}" text-anchor="middle">${perBar > 1 ? `${perBar} runs per bar` : 'one bar per run'}${unit}</text>
</g>
<g class="bars">${bars}</g>
<path class="changes" d="${line}"/>
<g class="points">${points}</g>
</svg>
<figcaption><span class="key key-bar"></span> duration (left scale) <span class="key key-line"></span> resources changed (right scale) <span class="key key-failed"></span> run with failures</figcaption>
</figure>`;
}
