/**
 * How one resource's changes read in the human plan: each attribute as old -> new
 * with its effect (in place, restart, forces replacement), text content as a unified
 * diff, lists and maps as what left and what came (a set of words on one line:
 * `groups: +docker -sudo`), sensitive values never shown.
 */
import type { AttributeChange, Consequences, Json } from '../providers/types.js';
import { SENSITIVE_CONTENT } from '../engine/textdiff.js';

export function value(v: Json | undefined): string {
  if (v === undefined) return '(none)';
  const s = JSON.stringify(v);
  return s.length > 120 ? s.slice(0, 117) + '...' : s;
}

const EFFECT: Record<string, string> = { update: 'in place', restart: 'restart', replace: 'forces replacement' };

function effectTag(c: AttributeChange, action: string): string {
  if (action === 'create' || action === 'delete') return '';
  return `   # ${EFFECT[c.effect] ?? c.effect}`;
}

const isMap = (v: Json | undefined): v is { readonly [k: string]: Json } => v !== null && typeof v === 'object' && !Array.isArray(v);

export function changeLines(c: AttributeChange, action: string): string[] {
  const name = c.path.slice(1).replace(/\//g, '.').replace(/~1/g, '/').replace(/~0/g, '~');
  const tag = effectTag(c, action);
  if (c.diff !== undefined) {
    if (c.diff === SENSITIVE_CONTENT) return [`      ${name}: ${SENSITIVE_CONTENT}${tag}`];
    return [`      ${name}:${tag}`, ...c.diff.split('\n').map((l) => `        ${l}`)];
  }
  if (c.binary) return [`      ${name}: (binary) ${value(c.from)} -> ${value(c.to)}${tag}`];
  if (action === 'create') return [`      ${name}: ${value(c.to)}`];
  if (c.added || c.removed) {
    // A set of words (groups, members): one line, `groups: +docker -sudo`.
    const words = [...(c.added ?? []), ...(c.removed ?? [])];
    if (words.length > 0 && words.every((w) => typeof w === 'string' && /^[^\s"]+$/.test(w))) {
      return [`      ${name}: ${[...(c.added ?? []).map((w) => `+${String(w)}`), ...(c.removed ?? []).map((w) => `-${String(w)}`)].join(' ')}${tag}`];
    }
    // A list: the elements that left and came; a map changed whole: the keys.
    const entry = (v: Json): string =>
      isMap(v) && !Array.isArray(c.from)
        ? Object.entries(v)
            .map(([k, x]) => `${k}: ${value(x)}`)
            .join(', ')
        : value(v);
    const lines = [`      ${name}:${tag}`];
    for (const v of c.removed ?? []) lines.push(`        - ${entry(v)}`);
    for (const v of c.added ?? []) lines.push(`        + ${entry(v)}`);
    if (lines.length === 1) lines.push(`        (order) ${value(c.from)} -> ${value(c.to)}`);
    return lines;
  }
  return [`      ${name}: ${value(c.from)} -> ${value(c.to)}${tag}`];
}

/** What a replace or restart costs, under its changes. */
export function consequenceLines(c: Consequences | undefined): string[] {
  if (!c) return [];
  return [
    `      downtime: ${c.downtime}`,
    `      health check gates the swap: ${c.healthGated ? 'yes' : 'no'}`,
    `      order: ${c.order}`,
    ...(c.keeps.length ? c.keeps.map((k) => `      keeps: ${k}`) : ['      keeps: no volumes or bind mounts declared']),
  ];
}
