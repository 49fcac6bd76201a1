/**
 * The fast path of parseYamlTree (yamltree.ts) for plain YAML: js-yaml's event parser
 * (`parseEvents`, offsets into the text) instead of the `yaml` package's Document, about
 * four times faster on a 1,000-line manifest (README, "Parsing manifests"). It gives the
 * same tree: the same values and, for every pointer it answers, the same file:line:column.
 *
 * It answers only what it can answer exactly and declines (returns undefined) for
 * anything else, which the `yaml` path then parses with its full checks and its errors:
 *   - any error from js-yaml, more than one document, a directive (`%YAML`, `%TAG`);
 *   - a tag (`!secret`, `!append`, `!!str`...), an anchor or an alias;
 *   - a key that is not a scalar, a plain key that is not a string or a number (`null:`,
 *     `true:`), a key given twice;
 *   - nesting deeper than maxDepth; a carriage return, a byte-order mark or a tab in the
 *     text; a block scalar's indentation indicator (`|2`); a plain or quoted scalar over
 *     several lines.
 * Plain scalars are resolved with the `yaml` package's own core-schema tags, in its order,
 * so `012`, `0o12`, `1_000`, `.inf`, `yes`, `~` get exactly the values the `yaml` path gives.
 * Locations: a map entry at its key, a list item or the root at the node's start, as
 * locate.ts createLocator does. A pointer the fast path did not record exactly (a block
 * scalar in a list, a missing field, a path through a scalar) is answered by the `yaml`
 * locator, which parses the text once on that first call: errors are rare, the happy path
 * (each resource's source, a template's location) never needs it.
 * test/yaml-fast.test.ts holds both paths to the same trees over generated documents.
 */
import { EVENT_ID, SCALAR_STYLE, getScalarValue, parseEvents, type Event } from 'js-yaml';
import { Schema, isScalar } from 'yaml';
import type { SourceLocation } from '../core/errors.js';
import type { ParseLimits } from './limits.js';
import { escapeSegment } from '../core/pointer.js';

interface ScalarTag {
  readonly default?: boolean | 'key';
  readonly test?: RegExp;
  resolve(str: string, onError: (msg: string) => void, options: Record<string, unknown>): unknown;
}

let coreTags: readonly ScalarTag[] | undefined;
/** The `yaml` core schema's implicit scalar tags, in the order its composer tries them. */
function implicitTags(): readonly ScalarTag[] {
  coreTags ??= (new Schema({ schema: 'core' }).tags as unknown as ScalarTag[]).filter((t) => t.default === true && t.test);
  return coreTags;
}

const DECLINE = Symbol('decline');
const PLAIN_TYPED_START = new Set([...'~nNtTfF0123456789+-.'].map((c) => c.charCodeAt(0)));
const RESOLVE_OPTIONS = { intAsBigInt: false };

/** A plain scalar's value as the `yaml` package's core schema resolves it (composer.findScalarTagByTest). */
function resolvePlain(source: string): unknown {
  // Every core-schema tag but the string's matches only '' or text starting with one of
  // these (null: ~ null Null NULL; bool: true True TRUE false...; numbers: a digit, + - .):
  // any other plain scalar is a string without testing eight patterns.
  if (source !== '' && !PLAIN_TYPED_START.has(source.charCodeAt(0))) return source;
  for (const tag of implicitTags()) {
    if (!tag.test!.test(source)) continue;
    let failed = false;
    const res = tag.resolve(
      source,
      () => {
        failed = true;
      },
      RESOLVE_OPTIONS,
    );
    // As the composer: a tag may give a Scalar (null, booleans) or the value itself.
    return failed ? DECLINE : isScalar(res) ? res.value : res;
  }
  return source;
}

interface Frame {
  readonly kind: 'map' | 'seq';
  readonly value: Record<string, unknown> | unknown[];
  readonly pointer: string;
  /** Map: the key read, waiting for its value. */
  key?: string;
  keyAt?: number;
}

export interface FastTree {
  readonly value: unknown;
  /** file:line:column for the pointers recorded exactly; undefined for the rest. */
  readonly exact: (pointer: string) => SourceLocation | undefined;
}

/** The tree of plain YAML `text`, or undefined when the `yaml` path has to decide (see above). */
export function fastYamlTree(file: string, text: string, limits: ParseLimits): FastTree | undefined {
  // A block scalar's explicit indentation indicator (`|2-`): the two parsers disagree at the
  // top level (the pattern may match elsewhere too, in a quoted string: declining is always safe).
  if (/[\r\t\uFEFF]|[|>][-+]?[1-9]/.test(text)) return undefined;
  let events: Event[];
  try {
    events = parseEvents(text, { maxDepth: limits.maxDepth + 1 });
  } catch {
    return undefined;
  }
  /** Pointer -> offset of the key (map entries) or of the node (list items, the root). */
  const at = new Map<string, number>();
  /** Map entries whose key is digits (see exact). */
  const digitKeys = new Set<string>();
  const stack: Frame[] = [];
  let root: unknown = DECLINE;
  let documents = 0;
  /** Put a finished value into its parent (or make it the root); false to decline. */
  const place = (value: unknown, start: number | undefined): string | false => {
    const top = stack[stack.length - 1];
    if (!top) {
      if (root !== DECLINE) return false;
      root = value;
      if (start !== undefined) at.set('', start);
      return '';
    }
    if (top.kind === 'seq') {
      const list = top.value as unknown[];
      const pointer = `${top.pointer}/${list.length}`;
      list.push(value);
      if (start !== undefined) at.set(pointer, start);
      return pointer;
    }
    const key = top.key!;
    top.key = undefined;
    const pointer = `${top.pointer}/${escapeSegment(key)}`;
    // A "__proto__" key is data, never the object's prototype.
    Object.defineProperty(top.value, key, { value, enumerable: true, writable: true, configurable: true });
    at.set(pointer, top.keyAt!);
    if (/^\d+$/.test(key)) digitKeys.add(pointer);
    return pointer;
  };
  /** The pointer a collection opened here will have (before it is placed). */
  const pointerHere = (): string => {
    const top = stack[stack.length - 1];
    if (!top) return '';
    return top.kind === 'seq' ? `${top.pointer}/${(top.value as unknown[]).length}` : `${top.pointer}/${escapeSegment(top.key!)}`;
  };
  for (const ev of events) {
    switch (ev.type) {
      case EVENT_ID.DOCUMENT:
        if (++documents > 1 || ev.directives.length > 0) return undefined;
        break;
      case EVENT_ID.ALIAS:
        return undefined;
      case EVENT_ID.MAPPING:
      case EVENT_ID.SEQUENCE: {
        if (ev.tagStart >= 0 || ev.anchorStart >= 0) return undefined;
        const top = stack[stack.length - 1];
        if (top?.kind === 'map' && top.key === undefined) return undefined; // a collection as a key
        if (stack.length + 1 > limits.maxDepth) return undefined;
        const value = ev.type === EVENT_ID.MAPPING ? {} : [];
        const pointer = pointerHere();
        if (place(value, ev.start) === false) return undefined;
        stack.push({ kind: ev.type === EVENT_ID.MAPPING ? 'map' : 'seq', value, pointer });
        break;
      }
      case EVENT_ID.POP:
        if (!stack.pop()) break; // the document's end
        break;
      case EVENT_ID.SCALAR: {
        if (ev.tagStart >= 0 || ev.anchorStart >= 0) return undefined;
        const plain = ev.style === SCALAR_STYLE.PLAIN;
        // A plain or quoted scalar over several lines is folded, with escaped line breaks in
        // double quotes: the parsers differ on some of those ("b\\<newline><newline> c").
        if (!ev.fast && ev.style <= SCALAR_STYLE.DOUBLE_QUOTED && text.slice(ev.valueStart, ev.valueEnd).includes('\n')) return undefined;
        const source = getScalarValue(text, ev);
        const value = plain ? resolvePlain(source) : source;
        if (value === DECLINE) return undefined;
        // Where the `yaml` package starts the node: at the quote of a quoted scalar; a block
        // scalar starts at its indicator, which the events do not give: not recorded.
        // An empty scalar has no offset (-1): not recorded either.
        const start =
          ev.valueStart < 0
            ? undefined
            : plain
              ? ev.valueStart
              : ev.style === SCALAR_STYLE.SINGLE_QUOTED || ev.style === SCALAR_STYLE.DOUBLE_QUOTED
                ? ev.valueStart - 1
                : undefined;
        const top = stack[stack.length - 1];
        if (top?.kind === 'map' && top.key === undefined) {
          if (typeof value !== 'string' && typeof value !== 'number') return undefined;
          const key = String(value);
          if (Object.prototype.hasOwnProperty.call(top.value, key) || start === undefined) return undefined;
          top.key = key;
          top.keyAt = start;
          break;
        }
        if (place(value, start) === false) return undefined;
        break;
      }
    }
  }
  if (documents !== 1 || root === DECLINE || stack.length > 0) return undefined;
  let lineStarts: number[] | undefined;
  const position = (offset: number): { line: number; column: number } => {
    if (!lineStarts) {
      lineStarts = [0];
      for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
    }
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - lineStarts[lo]! + 1 };
  };
  return {
    value: root,
    exact: (pointer) => {
      // The `yaml` locator reads "/" as the root, and a segment of digits as a number: "01"
      // finds key "1", and a path through a map key of digits ("1": {...}) is not followed.
      // Such pointers are its to answer.
      if (pointer === '/' || /\/0\d|\/\d{16}/.test(pointer)) return undefined;
      if (digitKeys.size > 0) {
        for (let i = pointer.indexOf('/', 1); i > 0; i = pointer.indexOf('/', i + 1)) if (digitKeys.has(pointer.slice(0, i))) return undefined;
      }
      const offset = at.get(pointer);
      if (offset === undefined) return undefined;
      const { line, column } = position(offset);
      return { file, line, column, pointer };
    },
  };
}
