/**
 * The human plan and report, read like Terraform's: `+` create, `~` update in place,
 * `-/+` replace (with the attributes that force it), `-` delete, `!` failed, each
 * changed attribute as old -> new, and a summary line at the end.
 */
import type { Report, ResourceReport } from '../engine/report.js';
import type { AttributeChange, Json } from '../providers/types.js';

const SYMBOL: Record<string, string> = { create: '+', update: '~', replace: '-/+', delete: '-', adopt: '=', none: ' ' };

function value(v: Json | undefined): string {
  if (v === undefined) return '(none)';
  const s = JSON.stringify(v);
  return s.length > 120 ? s.slice(0, 117) + '...' : s;
}

function changeLine(c: AttributeChange, action: string): string {
  const name = c.path.slice(1).replace(/\//g, '.').replace(/~1/g, '/').replace(/~0/g, '~');
  const forces = c.effect === 'replace' && action === 'replace' ? '   # forces replacement' : '';
  if (action === 'create') return `      ${name}: ${value(c.to)}`;
  if (Array.isArray(c.from) && Array.isArray(c.to)) {
    // A list: show what leaves and what comes, element by element.
    const key = (v: Json): string => JSON.stringify(v);
    const to = new Set(c.to.map(key));
    const from = new Set(c.from.map(key));
    const lines = [`      ${name}:${forces}`];
    for (const v of c.from) if (!to.has(key(v))) lines.push(`        - ${value(v)}`);
    for (const v of c.to) if (!from.has(key(v))) lines.push(`        + ${value(v)}`);
    if (lines.length === 1) lines.push(`        (order) ${value(c.from)} -> ${value(c.to)}`);
    return lines.join('\n');
  }
  return `      ${name}: ${value(c.from)} -> ${value(c.to)}${forces}`;
}

function entry(r: ResourceReport): string[] {
  const lines: string[] = [];
  if (r.status === 'failed' || r.status === 'skipped') {
    const head = `  ! ${r.id}: ${r.status}${r.action !== 'none' ? ` (${r.action})` : ''}`;
    lines.push(head, `      ${r.error?.message ?? ''}`);
    if (r.error?.hint) lines.push(`      hint: ${r.error.hint}`);
    return lines;
  }
  if (r.action === 'none' && !r.refresh) return lines;
  const sym = r.action === 'none' ? '~' : SYMBOL[r.action]!;
  const extra = r.action === 'replace' ? ` (replace: forced by ${r.forcedBy.join(', ')})` : '';
  const adopt = r.adopt ? ` (adopt: exists, not managed by tsconverge${r.adopt.madeBy ? `; made by ${r.adopt.madeBy}` : ''})` : '';
  const refresh = r.refresh ? (r.action === 'none' ? ' (restart: notified by a change)' : ' (and restart)') : '';
  lines.push(`  ${sym} ${r.id}${adopt}${extra}${refresh}`);
  for (const c of r.changes) lines.push(changeLine(c, r.action));
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
