/**
 * The YAML side of a Compose file that a plain parse does not give: a bound on alias
 * expansion set from the file's own size (merge keys in a real file are many; an alias
 * bomb is exponential), and Compose's `!reset` / `!override` tags as markers that the
 * merge (several files, `extends`, `include`) honours.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

/** `!reset`: the key is removed from what it merges with. */
export const RESET: unique symbol = Symbol('compose !reset');
/** `!override`: the value replaces what it merges with instead of merging into it. */
export class Override {
  constructor(readonly value: unknown) {}
}
export interface Reset {
  readonly [RESET]: true;
}
export const resetMarker: Reset = Object.freeze({ [RESET]: true as const });
export const isReset = (v: unknown): v is Reset => typeof v === 'object' && v !== null && RESET in v;

/**
 * The most nodes a Compose file of `bytes` bytes may expand to through its aliases. A
 * node of the source is at least a few bytes, and a real file's merge keys copy a
 * fragment into each service that uses it: 64 nodes per byte of file is a hundred times
 * more than the largest published file needs, and an alias bomb needs billions.
 */
export function aliasBudget(bytes: number): number {
  return Math.max(100_000, bytes * 64);
}

/**
 * Count the nodes the document expands to, aliases followed (memoised per anchored node,
 * so a bomb is counted in linear time, not expanded). Returns the alias where the
 * expansion passes `budget`, or undefined when it stays within.
 */
export function aliasOverflow(doc: Document, budget: number): { node: Node; total: number } | undefined {
  const size = new Map<unknown, number>();
  const busy = new Set<unknown>();
  let total = 0;
  let overflow: { node: Node; total: number } | undefined;
  const sizeOf = (n: unknown): number => {
    if (n === null || n === undefined) return 1;
    const known = size.get(n);
    if (known !== undefined) return known;
    if (busy.has(n)) return Number.POSITIVE_INFINITY; // an anchor that contains its own alias
    busy.add(n);
    let s = 1;
    if (isAlias(n)) s = sizeOf(n.resolve(doc));
    else if (isMap(n) || isSeq(n)) for (const it of n.items) s += isPair(it) ? sizeOf(it.key) + sizeOf(it.value) : sizeOf(it);
    busy.delete(n);
    size.set(n, s);
    return s;
  };
  const walk = (n: unknown): void => {
    if (overflow) return;
    if (isAlias(n)) {
      total += sizeOf(n);
      if (total > budget) overflow = { node: n, total };
      return;
    }
    total += 1;
    if (isMap(n) || isSeq(n))
      for (const it of n.items) {
        if (isPair(it)) {
          walk(it.key);
          walk(it.value);
        } else walk(it);
      }
  };
  walk(doc.contents);
  return overflow;
}

export interface TagMark {
  readonly path: readonly (string | number)[];
  readonly tag: '!reset' | '!override';
  readonly line: number;
  readonly column: number;
}

/** Where `!reset` and `!override` are, by path; their tags are cleared so the parse knows nothing of them. */
export function takeComposeTags(doc: Document, lines: LineCounter): TagMark[] {
  const out: TagMark[] = [];
  const visit = (n: unknown, at: (string | number)[]): void => {
    if (!n || isAlias(n)) return;
    const node = n as Node;
    if (node.tag === '!reset' || node.tag === '!override') {
      const pos = node.range ? lines.linePos(node.range[0]) : { line: 0, col: 0 };
      out.push({ path: at, tag: node.tag, line: pos.line, column: pos.col });
      node.tag = undefined;
    }
    if (isMap(n)) for (const p of n.items) visit(p.value, [...at, String(isScalar(p.key) ? p.key.value : p.key)]);
    else if (isSeq(n)) n.items.forEach((it, i) => visit(it, [...at, i]));
  };
  visit(doc.contents, []);
  return out;
}

/** Put the markers into the plain data: `!reset` becomes the reset marker, `!override` wraps its value. */
export function applyComposeTags(data: Record<string, unknown>, marks: readonly TagMark[]): void {
  for (const m of marks) {
    if (m.path.length === 0) continue;
    let parent: unknown = data;
    for (const seg of m.path.slice(0, -1)) parent = (parent as Record<string | number, unknown> | undefined)?.[seg];
    if (!parent || typeof parent !== 'object') continue;
    const key = m.path[m.path.length - 1]!;
    const p = parent as Record<string | number, unknown>;
    if (!(key in p)) continue;
    p[key] = m.tag === '!reset' ? resetMarker : new Override(p[key]);
  }
}

/** The data without markers (for the schema, and after the merge): a reset key is gone, an override is its value. */
export function stripMarkers(v: unknown): unknown {
  if (v instanceof Override) return stripMarkers(v.value);
  if (Array.isArray(v)) return v.filter((x) => !isReset(x)).map(stripMarkers);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => !isReset(x))
        .map(([k, x]) => [k, stripMarkers(x)]),
    );
  }
  return v;
}
