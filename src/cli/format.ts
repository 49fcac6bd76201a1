/**
 * The human plan and report, read like Terraform's: `+` create, `~` update in place,
 * `-/+` replace (with the attributes that force it), `-` delete, `!` failed, each
 * changed attribute as old -> new, and a summary line at the end.
 *
 * Output is streamed: the plan of a catalogue of any size is produced line by line
 * (`reportLines`, a generator) and written in bounded chunks (`writeReport`). Nothing on
 * this path spreads or recurses in the size of the catalogue (a spread of 100,000 lines
 * into `push(...)` overflowed the call stack).
 */
import type { Report, ResourceReport } from '../engine/report.js';
import { changeLines, consequenceLines } from './plan-format.js';

const SYMBOL: Record<string, string> = { create: '+', update: '~', replace: '-/+', delete: '-', adopt: '=', none: ' ' };

function entry(r: ResourceReport): string[] {
  const lines: string[] = [];
  if (r.error?.code === 'REPLACE_HELD') {
    lines.push(`  ! ${r.id}: held, not replaced (stateful)`);
    if (r.drift) lines.push(`      (${r.drift})`);
    for (const c of r.changes) for (const l of changeLines(c, r.action)) lines.push(l);
    lines.push(`      ${r.error.message}`);
    if (r.error.hint) lines.push(`      hint: ${r.error.hint}`);
    return lines;
  }
  if (r.refused) {
    lines.push(`  ! ${r.id}: refused (${r.action}${r.forcedBy.length ? `: forced by ${r.forcedBy.join(', ')}` : ''})`);
    for (const c of r.changes) for (const l of changeLines(c, r.action)) lines.push(l);
    lines.push(`      ${r.error?.message ?? ''}`);
    if (r.error?.hint) lines.push(`      hint: ${r.error.hint}`);
    return lines;
  }
  if (r.status === 'failed' || r.status === 'skipped') {
    const rolledBack = r.error?.code === 'ROLLED_BACK' ? ', rolled back' : '';
    const head = `  ! ${r.id}: ${r.status}${r.action !== 'none' ? ` (${r.action})` : ''}${rolledBack}`;
    lines.push(head, `      ${r.error?.message ?? ''}`);
    if (r.error?.hint) lines.push(`      hint: ${r.error.hint}`);
    return lines;
  }
  if (r.action === 'none' && !r.refresh) return lines;
  const sym = r.action === 'none' ? '~' : SYMBOL[r.action]!;
  const follows = r.follows ? `, when ${r.follows} ${r.follows.startsWith('docker.image[') ? 'is pulled or built' : 'is replaced'}` : '';
  const extra = r.action === 'replace' ? ` (replace: forced by ${r.forcedBy.join(', ')}${follows})` : '';
  const adopt = r.adopt ? ` (adopt: exists, not managed by tsconverge${r.adopt.madeBy ? `; made by ${r.adopt.madeBy}` : ''})` : '';
  const why = r.refreshOwedBy ? `owed since ${r.refreshOwedBy} changed in an earlier run` : 'notified by a change';
  const refresh = r.refresh ? (r.action === 'none' ? ` (restart: ${why})` : ' (and restart)') : '';
  lines.push(`  ${sym} ${r.id}${adopt}${extra}${refresh}`);
  if (r.drift) lines.push(`      (${r.drift})`);
  for (const c of r.changes) for (const l of changeLines(c, r.action)) lines.push(l);
  for (const l of consequenceLines(r.consequences)) lines.push(l);
  return lines;
}

/** The plan or report, one line at a time (no trailing newlines). */
export function* reportLines(report: Report): Generator<string> {
  const title = report.noop ? 'Plan' : 'Apply';
  yield `${title} of catalogue ${report.catalogue.slice(0, 19)} (${report.summary.total} resources)${report.noop ? ': noop, nothing will be changed' : ''}`;
  yield '';
  let any = false;
  for (const r of report.resources)
    for (const l of entry(r)) {
      any = true;
      yield l;
    }
  if (!any) yield '  No changes. The host matches the catalogue.';
  yield '';
  const counts = new Map<string, number>();
  let refreshes = 0;
  let adoptedElsewhere = 0;
  let refused = 0;
  for (const r of report.resources) {
    if (r.refused) refused++;
    const live = r.status === 'pending' || r.status === 'changed';
    if (live) counts.set(r.action, (counts.get(r.action) ?? 0) + 1);
    if (r.refresh) refreshes++;
    if (live && r.adopt && r.action !== 'adopt') adoptedElsewhere++;
  }
  const count = (a: string): number => counts.get(a) ?? 0;
  const s = report.summary;
  const verbs = report.noop
    ? `${count('create')} to create, ${count('update')} to update, ${count('replace')} to replace, ${count('delete')} to delete, ${refreshes} to restart`
    : `${count('create')} created, ${count('update')} updated, ${count('replace')} replaced, ${count('delete')} deleted, ${refreshes} restarted`;
  const adopted = count('adopt') + adoptedElsewhere;
  const adoptText = adopted ? `, ${adopted} ${report.noop ? 'to adopt' : 'adopted'}` : '';
  yield `${title}: ${verbs}${adoptText}; ${s.unchanged} unchanged, ${s.failed - refused} failed, ${refused ? `${refused} refused, ` : ''}${s.skipped} skipped (${(report.durationMs / 1000).toFixed(1)} s).`;
}

/** The whole plan or report as one string (push prefixes each host's lines). */
export function formatReport(report: Report): string {
  let out = '';
  for (const l of reportLines(report)) out += l + '\n';
  return out;
}

/**
 * The report as `JSON.stringify(report, null, 2)` prints it, in pieces: every field but
 * `resources` as one piece, then one piece per resource.
 */
export function* reportJsonPieces(report: Report): Generator<string> {
  const keys = Object.keys(report) as (keyof Report)[];
  yield '{';
  let first = true;
  for (const k of keys) {
    const v = report[k];
    if (v === undefined || typeof v === 'function') continue;
    const head = `${first ? '' : ','}\n  ${JSON.stringify(k)}: `;
    first = false;
    if (k !== 'resources' || report.resources.length === 0) {
      yield head + JSON.stringify(v, null, 2).replace(/\n/g, '\n  ');
      continue;
    }
    yield head + '[';
    let i = 0;
    for (const r of report.resources) yield `${i++ ? ',' : ''}\n    ` + JSON.stringify(r, null, 2).replace(/\n/g, '\n    ');
    yield '\n  ]';
  }
  yield first ? '}\n' : '\n}\n';
}

const CHUNK = 64 * 1024;

/**
 * Write the plan or report to `out` as it is produced, in chunks of about 64 KiB, each
 * passed through `mask` (the secret redaction: every known secret is masked line by line
 * too, and a chunk ends at a line or resource boundary, so no value is split across two).
 */
export function writeReport(report: Report, format: 'human' | 'json', out: (s: string) => void, mask: (s: string) => string): void {
  let buf = '';
  const pieces =
    format === 'json'
      ? reportJsonPieces(report)
      : (function* () {
          for (const l of reportLines(report)) yield l + '\n';
        })();
  for (const p of pieces) {
    buf += p;
    if (buf.length >= CHUNK) {
      out(mask(buf));
      buf = '';
    }
  }
  if (buf) out(mask(buf));
}
