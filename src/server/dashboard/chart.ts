/**
 * A server-rendered SVG chart of a node's runs, oldest on the left: a bar per run for its
 * duration (left scale), a line with a point per run for its changes (right scale), failed
 * runs' points drawn as squares. No script: the runs table beside it gives the numbers.
 */
import { html, type Html } from './html.js';

export interface ChartRun { readonly at: string; readonly durationMs: number; readonly changed: number; readonly failed: number }

const W = 720, H = 220, L = 56, R = 48, T = 16, B = 36;

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= v)!;
}

const fmtSeconds = (ms: number): string => (ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`);

export function renderRunChart(runs: readonly ChartRun[], id = 'runs-chart'): Html {
  if (runs.length === 0) return html`<p>No runs reported yet.</p>`;
  const maxD = niceMax(Math.max(...runs.map((r) => r.durationMs)));
  const maxC = niceMax(Math.max(...runs.map((r) => r.changed)));
  const pw = W - L - R, ph = H - T - B;
  const step = pw / runs.length;
  const bw = Math.max(2, Math.min(28, step * 0.6));
  const x = (i: number): number => L + step * i + step / 2;
  const yD = (ms: number): number => T + ph - (ms / maxD) * ph;
  const yC = (n: number): number => T + ph - (n / maxC) * ph;
  const f = (n: number): string => n.toFixed(1);
  const bars = runs.map((r, i) => html`<rect class="bar" x="${f(x(i) - bw / 2)}" y="${f(yD(r.durationMs))}" width="${f(bw)}" height="${f(T + ph - yD(r.durationMs))}"><title>${r.at}: ${fmtSeconds(r.durationMs)}, ${r.changed} changed, ${r.failed} failed</title></rect>`);
  const line = runs.map((r, i) => `${i ? 'L' : 'M'}${f(x(i))},${f(yC(r.changed))}`).join(' ');
  const points = runs.map((r, i) => (r.failed > 0
    ? html`<rect class="pt failed" x="${f(x(i) - 4)}" y="${f(yC(r.changed) - 4)}" width="8" height="8"/>`
    : html`<circle class="pt" cx="${f(x(i))}" cy="${f(yC(r.changed))}" r="3.5"/>`));
  const first = runs[0]!.at.slice(0, 16).replace('T', ' ');
  const last = runs[runs.length - 1]!.at.slice(0, 16).replace('T', ' ');
  return html`<figure class="chart">
<svg id="${id}" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="${id}-title ${id}-desc" xmlns="http://www.w3.org/2000/svg">
<title id="${id}-title">Run durations and changes, last ${runs.length} runs</title>
<desc id="${id}-desc">Bars: duration of each run, up to ${fmtSeconds(maxD)}. Line: resources changed per run, up to ${maxC}. Squares mark runs with failures. From ${first} to ${last} UTC.</desc>
<g class="axes"><line x1="${L}" y1="${T + ph}" x2="${W - R}" y2="${T + ph}"/><line x1="${L}" y1="${T}" x2="${L}" y2="${T + ph}"/><line x1="${W - R}" y1="${T}" x2="${W - R}" y2="${T + ph}"/></g>
<g class="labels">
<text x="${L - 6}" y="${T + 4}" text-anchor="end">${fmtSeconds(maxD)}</text><text x="${L - 6}" y="${T + ph}" text-anchor="end">0 s</text>
<text x="${W - R + 6}" y="${T + 4}">${maxC}</text><text x="${W - R + 6}" y="${T + ph}">0</text>
<text x="${L}" y="${H - 8}">${first}</text><text x="${W - R}" y="${H - 8}" text-anchor="end">${last}</text>
</g>
<g class="bars">${bars}</g>
<path class="changes" d="${line}"/>
<g class="points">${points}</g>
</svg>
<figcaption><span class="key key-bar"></span> duration (left scale) <span class="key key-line"></span> resources changed (right scale) <span class="key key-failed"></span> run with failures</figcaption>
</figure>`;
}
