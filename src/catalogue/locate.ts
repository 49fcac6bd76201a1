/**
 * Where a JSON pointer of a parsed YAML document is: file, 1-based line and column. Every
 * manifest error names its place with this (load.ts for manifests, yamltree.ts for the
 * fleet's files).
 */
import { isNode, isMap, isScalar, type Document, type LineCounter } from 'yaml';
import type { SourceLocation } from '../core/errors.js';
import { splitPointer } from '../core/pointer.js';

/** Map a JSON pointer in a parsed document to file:line:column, walking up to the nearest node that exists. */
export function createLocator(file: string, doc: Document, lines: LineCounter) {
  // Answers are remembered: a parsed tree is shared by every compile of a frozen tree (treefs.ts).
  const seen = new Map<string, SourceLocation>();
  const locate = locateIn(file, doc, lines);
  return (pointer: string): SourceLocation => {
    let hit = seen.get(pointer);
    if (!hit) {
      hit = locate(pointer);
      seen.set(pointer, hit);
    }
    return hit;
  };
}

function locateIn(file: string, doc: Document, lines: LineCounter) {
  return (pointer: string): SourceLocation => {
    const segs = splitPointer(pointer);
    for (let n = segs.length; n >= 0; n--) {
      const keys = segs.slice(0, n).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
      // A map entry is located at its key, where an editor puts the cursor.
      const parent = keys.length === 0 ? undefined : keys.length === 1 ? doc.contents : doc.getIn(keys.slice(0, -1), true);
      if (isMap(parent)) {
        const pair = parent.items.find((it) => isScalar(it.key) && String(it.key.value) === String(keys[keys.length - 1]));
        if (pair && isNode(pair.key) && pair.key.range) {
          const pos = lines.linePos(pair.key.range[0]);
          return { file, line: pos.line, column: pos.col, pointer };
        }
      }
      const node = keys.length === 0 ? doc.contents : doc.getIn(keys, true);
      if (isNode(node) && node.range) {
        const pos = lines.linePos(node.range[0]);
        return { file, line: pos.line, column: pos.col, pointer };
      }
    }
    return { file, pointer };
  };
}
