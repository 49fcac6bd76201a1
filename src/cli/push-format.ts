/**
 * Push output for humans: each host's plan or report exactly as a local run prints it,
 * every line prefixed by the host, then one summary table. `--format json` prints one
 * JSON object per host per line instead (HostResult).
 */
import { formatReport } from './format.js';
import type { HostResult } from '../push/run.js';

export function prefixLines(host: string, text: string): string {
  const lines = text.replace(/\n$/, '').split('\n');
  return lines.map((l) => `${host}: ${l}`.trimEnd()).join('\n') + '\n';
}

function errorLines(r: HostResult): string[] {
  return (r.errors ?? []).flatMap((e) => {
    const loc = e.location as { file?: string; line?: number; column?: number; pointer?: string } | undefined;
    const where = loc?.file
      ? `${loc.file}${loc.line ? `:${loc.line}` : ''}${loc.column ? `:${loc.column}` : ''}${loc.pointer ? ` (at ${loc.pointer})` : ''}: `
      : '';
    const who = e.resource ? `${String(e.resource)}: ` : '';
    return [`error: ${where}${who}${String(e.message)}`, ...(e.hint ? [`  hint: ${String(e.hint)}`] : [])];
  });
}

/** One host's block: its report (or why it did not run), prefixed. */
export function formatHost(r: HostResult): string {
  const head: string[] = [];
  if (r.hostKeyRecorded) head.push(`host key recorded (--accept-new)`);
  if (r.installed) head.push(`installed tsconverge`);
  const body = r.report ? formatReport(r.report) : errorLines(r).join('\n') + '\n';
  return prefixLines(r.host, [...head, body].join('\n'));
}

const STATUS_NOTE: Record<string, string> = { unreachable: 'unreachable', refused: 'host key refused', 'not-run': 'not run', error: 'failed' };

/** The summary table: host, exit code, changed, failed, duration (and why, for a host that did not run). */
export function formatSummary(results: readonly HostResult[], exitCode: number, noop: boolean): string {
  const rows = results.map((r) => [
    r.host,
    String(r.exitCode),
    r.report ? String(r.changed) : '-',
    r.report ? String(r.failed) : '-',
    `${(r.durationMs / 1000).toFixed(1)} s`,
    r.status === 'ok' ? '' : (STATUS_NOTE[r.status] ?? r.status),
  ]);
  const header = ['HOST', 'EXIT', noop ? 'PENDING' : 'CHANGED', 'FAILED', 'DURATION', ''];
  const widths = header.map((h, i) => rows.reduce((w, row) => Math.max(w, row[i]!.length), h.length));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 1 || i === 2 || i === 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const bad = results.filter((r) => r.status === 'unreachable' || r.status === 'refused').map((r) => r.host);
  const tail = `push: ${results.length} host${results.length === 1 ? '' : 's'}, exit ${exitCode}${bad.length ? `; not reached: ${bad.join(', ')}` : ''}`;
  let out = `\n${line(header)}\n`;
  for (const row of rows) out += line(row) + '\n';
  return out + tail + '\n';
}

/** The JSON line of one host (its report included). */
export function formatHostJson(r: HostResult): string {
  return JSON.stringify({ formatVersion: 1, ...r }) + '\n';
}
