/**
 * The watcher's part of the agent's metrics file: its own lines, added to the file the
 * runs write (the run's metrics come from the run, in a child process by default), in the
 * Prometheus text format, written atomically. Rewritten after every run and when a
 * managed container's state changes; the lines of a previous write are replaced.
 *
 * - tsconverge_agent_event_runs_total, tsconverge_agent_watch_events_total{kind=seen|own|dropped},
 *   tsconverge_agent_watch_gaps_total: runs started by events, events seen (own: tsconverge's
 *   own changes; dropped: left to the sweep by the rate limit), breaks that needed a full run;
 * - tsconverge_agent_event_repair_seconds{quantile}: time from the event to the repair;
 * - tsconverge_container_running / _healthy / _restarts_seen_total / _oom_kills_seen_total{container}.
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../core/atomic.js';
import type { WatchStats } from './watcher.js';

const PREFIXES = ['tsconverge_agent_event_', 'tsconverge_agent_watch_', 'tsconverge_container_'];

const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

export function renderWatchMetrics(s: WatchStats): string {
  const out: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge' | 'summary', help: string, rows: [string, number][]): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) out.push(`${name}${labels} ${Number.isNaN(v) ? 'NaN' : v}`);
  };
  metric('tsconverge_agent_event_runs_total', 'counter', 'Runs started by watch events since the agent started.', [['', s.eventRuns]]);
  metric(
    'tsconverge_agent_watch_events_total',
    'counter',
    "Watch events on managed resources: seen, tsconverge's own changes (ignored), dropped by the rate limit (left to the sweep).",
    [
      ['{kind="seen"}', s.eventsSeen],
      ['{kind="own"}', s.eventsOwn],
      ['{kind="dropped"}', s.eventsDropped],
    ],
  );
  metric('tsconverge_agent_watch_gaps_total', 'counter', 'Breaks of the engine event stream that could not be bridged with since (a full run followed).', [
    ['', s.fullRunsForGaps],
  ]);
  const sorted = [...s.repairSeconds].sort((a, b) => a - b);
  metric('tsconverge_agent_event_repair_seconds', 'summary', 'Seconds from a watch event to the repair of the resource it marked (the last 100 repairs).', [
    ['{quantile="0.5"}', quantile(sorted, 0.5)],
    ['{quantile="0.99"}', quantile(sorted, 0.99)],
    ['_sum', sorted.reduce((a, b) => a + b, 0)],
    ['_count', sorted.length],
  ]);
  const cs = [...s.containers].sort(([a], [b]) => a.localeCompare(b));
  metric(
    'tsconverge_container_running',
    'gauge',
    "A managed container is running (1) or not (0), from the engine's events.",
    cs.map(([n, c]) => [`{container="${esc(n)}"}`, c.running ? 1 : 0]),
  );
  metric(
    'tsconverge_container_healthy',
    'gauge',
    "A managed container's health check: 1 healthy, 0 unhealthy or starting (containers without one are left out).",
    cs.filter(([, c]) => c.health !== undefined).map(([n, c]) => [`{container="${esc(n)}"}`, c.health === 'healthy' ? 1 : 0]),
  );
  metric(
    'tsconverge_container_restarts_seen_total',
    'counter',
    'Starts of a managed container after it died, seen since the agent started.',
    cs.map(([n, c]) => [`{container="${esc(n)}"}`, c.restarts]),
  );
  metric(
    'tsconverge_container_oom_kills_seen_total',
    'counter',
    'OOM kills of a managed container seen since the agent started.',
    cs.map(([n, c]) => [`{container="${esc(n)}"}`, c.ooms]),
  );
  return out.join('\n') + '\n';
}

/** Replace the watcher's lines in `file` (the run's lines stay). */
export async function writeWatchMetrics(file: string, s: WatchStats): Promise<void> {
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch {
    /* none yet */
  }
  const ours = (line: string): boolean => {
    const name = line.startsWith('# ') ? (line.split(' ')[2] ?? '') : line;
    return PREFIXES.some((p) => name.startsWith(p));
  };
  const kept = text.split('\n').filter((l) => l !== '' && !ours(l));
  await writeFileAtomic(file, (kept.length ? kept.join('\n') + '\n' : '') + renderWatchMetrics(s), { mode: 0o644 });
}
