/**
 * The human plan and report, read like Terraform's: `+` create, `~` update in place,
 * `-/+` replace (with the attributes that force it), `-` delete, `!` failed, each
 * changed attribute as old -> new, and a summary line at the end.
 */
import type { Report, ResourceReport } from '../engine/report.js';
import { changeLines, consequenceLines } from './plan-format.js';

const SYMBOL: Record<string, string> = { create: '+', update: '~', replace: '-/+', delete: '-', adopt: '=', none: ' ' };

function entry(r: ResourceReport): string[] {
  const lines: string[] = [];
  if (r.error?.code === 'REPLACE_HELD') {
    lines.push(`  ! ${r.id}: held, not replaced (stateful)`);
    if (r.drift) lines.push(`      (${r.drift})`);
    for (const c of r.changes) lines.push(...changeLines(c, r.action));
    lines.push(`      ${r.error.message}`);
    if (r.error.hint) lines.push(`      hint: ${r.error.hint}`);
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
  for (const c of r.changes) lines.push(...changeLines(c, r.action));
  lines.push(...consequenceLines(r.consequences));
  return lines;
}

export function formatReport(report: Report): string {
  const out: string[] = [];
  const title = report.noop ? 'Plan' : 'Apply';
  out.push(`${title} of catalogue ${report.catalogue.slice(0, 19)} (${report.summary.total} resources)${report.noop ? ': noop, nothing will be changed' : ''}`);
  const body = report.resources.flatMap(entry);
  out.push('', ...(body.length ? body : ['  No changes. The host matches the catalogue.']), '');
  const count = (a: string): number => report.resources.filter((r) => r.action === a && (r.status === 'pending' || r.status === 'changed')).length;
  const refreshes = report.resources.filter((r) => r.refresh).length;
  const s = report.summary;
  const verbs = report.noop
    ? `${count('create')} to create, ${count('update')} to update, ${count('replace')} to replace, ${count('delete')} to delete, ${refreshes} to restart`
    : `${count('create')} created, ${count('update')} updated, ${count('replace')} replaced, ${count('delete')} deleted, ${refreshes} restarted`;
  const adopted = count('adopt') + report.resources.filter((r) => r.adopt && r.action !== 'adopt' && (r.status === 'pending' || r.status === 'changed')).length;
  const adoptText = adopted ? `, ${adopted} ${report.noop ? 'to adopt' : 'adopted'}` : '';
  out.push(`${title}: ${verbs}${adoptText}; ${s.unchanged} unchanged, ${s.failed} failed, ${s.skipped} skipped (${(report.durationMs / 1000).toFixed(1)} s).`);
  return out.join('\n') + '\n';
}
