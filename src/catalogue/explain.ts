/**
 * `tsconverge explain`: where a value of a node's catalogue came from. For
 * `kind[name].path` it names the module line that declared the attribute and, for
 * each parameter the value was rendered from, the data layer, file and line that set
 * it and the layers it overrode. `module.param` explains a parameter directly.
 */
import path from 'node:path';
import { TsconvergeError, formatLocation, type SourceLocation } from '../core/errors.js';
import { MASK } from '../core/redact.js';
import { historyOf, isMap } from './data.js';
import { maskAttrs, type FleetCatalogue } from './fleet.js';
import { escapeSegment, splitPointer } from './yamltree.js';

export interface ExplainStep {
  readonly layer: string;
  readonly pointer: string;
  readonly location: SourceLocation;
  readonly value: unknown;
  readonly action: string;
  /** False for the step whose value is in effect. */
  readonly overridden: boolean;
}

export interface Explanation {
  readonly query: string;
  readonly resource?: string;
  readonly pointer: string;
  readonly value: unknown;
  readonly declared?: { readonly location: SourceLocation; readonly template?: string };
  readonly parameters: readonly { readonly parameter: string; readonly steps: readonly ExplainStep[] }[];
}

function notFound(message: string, hint: string): TsconvergeError {
  return new TsconvergeError('EXPLAIN_NOT_FOUND', message, { hint, terminal: true });
}

/** `a.b` or `/a/b` -> a JSON pointer. */
function toPointer(p: string): string {
  if (p === '') return '';
  if (p.startsWith('/')) return p;
  return '/' + p.replace(/^\./, '').split('.').map(escapeSegment).join('/');
}

function valueAt(v: unknown, pointer: string): unknown {
  let cur = v;
  for (const s of splitPointer(pointer)) {
    if (Array.isArray(cur)) cur = cur[Number(s)];
    else if (isMap(cur)) cur = cur[s];
    else return undefined;
  }
  return cur;
}

function steps(fc: FleetCatalogue, dataPointer: string): ExplainStep[] {
  const hist = historyOf(fc.data, dataPointer);
  return hist
    .map((h, i) => ({
      layer: h.layer,
      pointer: h.pointer,
      location: h.location,
      value: h.value,
      action: h.action,
      overridden: hist.slice(i + 1).some((o) => (o.pointer === h.pointer || h.pointer.startsWith(o.pointer + '/')) && o.action !== 'append'),
    }))
    .reverse();
}

export function explainValue(fc: FleetCatalogue, query: string): Explanation {
  const m = /^([a-z][a-z0-9]*(?:\.[a-z][a-z0-9]*)*)\[([^\]]+)\](.*)$/.exec(query);
  if (!m) {
    const pointer = toPointer(query);
    const [mod] = splitPointer(pointer);
    if (!mod || !fc.modules.includes(mod))
      throw notFound(
        `no resource or parameter "${query}"`,
        `write kind[name].path (e.g. docker.container[web].environment.LOG_LEVEL) or MODULE.PARAMETER; modules of ${fc.node}: ${fc.modules.join(', ')}`,
      );
    return {
      query,
      pointer,
      value: valueAt(fc.data.value, pointer),
      parameters: [{ parameter: pointer.slice(1).replace(/\//g, '.'), steps: steps(fc, pointer) }],
    };
  }
  const id = `${m[1]}[${m[2]}]`;
  const r = fc.catalogue.byId.get(id);
  if (!r) throw notFound(`${id} is not in the catalogue of ${fc.node}`, `resources: ${fc.catalogue.resources.map((x) => x.id).join(', ')}`);
  const pointer = toPointer(m[3]!);
  const masked = maskAttrs(r.attrs, r.sensitive);
  const value = valueAt(masked, pointer);
  if (value === undefined && pointer !== '') throw notFound(`${id} has no value at ${pointer}`, `attributes of ${id}: ${Object.keys(r.attrs).join(', ')}`);
  const origins = fc.origins.get(id) ?? new Map();
  const module = fc.moduleOf.get(id)!;
  const parameters: { parameter: string; steps: ExplainStep[] }[] = [];
  let declared: Explanation['declared'] = { location: r.locate(pointer) };
  const add = (dataPointer: string): void => {
    if (!parameters.some((p) => p.parameter === dataPointer))
      parameters.push({ parameter: dataPointer.slice(1).replace(/\//g, '.'), steps: steps(fc, dataPointer) });
  };
  for (const [q, o] of [...origins].sort((a, b) => b[0].length - a[0].length)) {
    const above = q === pointer || pointer.startsWith(q + '/');
    const below = q.startsWith(pointer + '/') || pointer === '';
    if (!above && !below) continue;
    if (above && (!declared.template || q.length > 0)) declared = { location: o.location, template: o.template };
    for (const p of o.params) {
      const base = `/${escapeSegment(module)}/${p.split('.').map(escapeSegment).join('/')}`;
      add(o.whole && above ? base + pointer.slice(q.length) : base);
    }
    if (above) break;
  }
  if (pointer === '/content' && typeof r.attrs.template === 'string') {
    declared = { location: r.locate('/template'), template: `rendered from ${r.attrs.template} with its parameters` };
    for (const [q, o] of origins)
      if (q.startsWith('/parameters')) for (const p of o.params) add(`/${escapeSegment(module)}/${p.split('.').map(escapeSegment).join('/')}`);
  }
  return { query, resource: id, pointer, value, declared, parameters };
}

function show(v: unknown): string {
  if (v === MASK) return MASK;
  const s = JSON.stringify(v);
  return s === undefined ? '(none)' : s.length > 100 ? s.slice(0, 97) + '...' : s;
}

export function formatExplanation(e: Explanation): string {
  const where = (l: SourceLocation): string => formatLocation({ ...l, file: path.relative(process.cwd(), l.file) || l.file, pointer: undefined });
  const out = [`${e.query} = ${show(e.value)}`];
  if (e.declared)
    out.push(
      `  declared at ${where(e.declared.location)}${e.declared.template ? ` as ${JSON.stringify(e.declared.template)}` : ' (a literal value in the module)'}`,
    );
  for (const p of e.parameters) {
    out.push(`  parameter ${p.parameter}:`);
    if (p.steps.length === 0) out.push('    not set by any layer');
    for (const s of p.steps) {
      const sub = s.pointer === '/' + p.parameter.replace(/\./g, '/') ? '' : ` (${s.pointer.slice(1).replace(/\//g, '.')})`;
      out.push(
        `    ${s.overridden ? 'overridden' : 'set by   '} ${s.layer}${sub} at ${where(s.location)}: ${show(s.value)}${s.action === 'append' ? ' (appended)' : s.action === 'replace' ? ' (!replace)' : ''}`,
      );
    }
  }
  return out.join('\n') + '\n';
}
