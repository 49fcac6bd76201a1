/**
 * How one resource's changes read in the human plan: each attribute as old -> new
 * with its effect (in place, restart, forces replacement), text content as a unified
 * diff, lists and maps as what left and what came, sensitive values never shown.
 */
import type { AttributeChange, Consequences, Json } from '../providers/types.js';
import { SENSITIVE } from '../engine/diff.js';
import { SENSITIVE_CONTENT } from '../engine/textdiff.js';

export function value(v: Json | undefined): string {
  if (v === undefined) return '(none)';
  if (typeof v === 'string' && v === SENSITIVE) return SENSITIVE;
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
  if (Array.isArray(c.from) && Array.isArray(c.to)) {
    // A list: what leaves and what comes, element by element.
    const key = (v: Json): string => JSON.stringify(v);
    const to = new Set(c.to.map(key));
    const from = new Set(c.from.map(key));
    const lines = [`      ${name}:${tag}`];
    for (const v of c.from) if (!to.has(key(v))) lines.push(`        - ${value(v)}`);
    for (const v of c.to) if (!from.has(key(v))) lines.push(`        + ${value(v)}`);
    if (lines.length === 1) lines.push(`        (order) ${value(c.from)} -> ${value(c.to)}`);
    return lines;
  }
  if (isMap(c.from) && isMap(c.to)) {
    // A map replaced whole: the keys that left, changed and came.
    const lines = [`      ${name}:${tag}`];
    for (const [k, v] of Object.entries(c.from)) if (!(k in c.to)) lines.push(`        - ${k}: ${value(v)}`);
    for (const [k, v] of Object.entries(c.to)) {
      if (!(k in c.from)) lines.push(`        + ${k}: ${value(v)}`);
      else if (JSON.stringify(c.from[k]) !== JSON.stringify(v)) lines.push(`        ~ ${k}: ${value(c.from[k])} -> ${value(v)}`);
    }
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
