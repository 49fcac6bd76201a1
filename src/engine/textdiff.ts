/**
 * Readable content diffs for the plan and the report. A provider whose view holds only
 * a hash of a large value (a file's content) hands the engine the old and new bytes
 * through `Provider.texts`; the engine turns them into a unified diff with context
 * lines and a size cap. Binary content stays as size and hash (the view already says
 * so); sensitive content is never diffed: the change says "(sensitive content changed)".
 */
import { structuredPatch } from 'diff';
import type { AttributeChange, ResourcePlan } from '../providers/types.js';

/** Lines of diff kept per change; the rest is counted ("N more lines"). */
export const DIFF_MAX_LINES = 60;
export const SENSITIVE_CONTENT = '(sensitive content changed)';
/**
 * Edits (changed lines) past which no line diff is computed: Myers' diff costs O(N*D), and
 * a plan of many large rewritten files must not spend minutes on diffs nobody reads
 * (2,000 rewritten lines cost 0.7 s each; capped, 20 ms). The change keeps its hashes.
 */
export const DIFF_MAX_EDITS = 1000;
export const DIFF_TOO_LARGE = `(more than ${DIFF_MAX_EDITS} lines changed: no line diff; the hashes above tell the versions apart)`;

export type Texts = Readonly<Record<string, { readonly from?: string | Buffer; readonly to?: string | Buffer }>>;

/** Binary: a NUL byte, or bytes that are not valid UTF-8. */
export function isBinary(b: string | Buffer): boolean {
  if (typeof b === 'string') return b.includes('\0');
  if (b.includes(0)) return true;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return false;
  } catch {
    return true;
  }
}

/** A unified diff of two texts (hunks only, `@@` headers, 3 context lines), capped at `max` lines. */
export function unifiedDiff(from: string, to: string, max = DIFF_MAX_LINES): string {
  const patch = structuredPatch('a', 'b', from, to, '', '', { context: 3, maxEditLength: DIFF_MAX_EDITS });
  if (!patch) return DIFF_TOO_LARGE;
  const lines: string[] = [];
  for (const h of patch.hunks) {
    // An empty range starts at the line before it, as GNU diff writes it.
    const at = (start: number, count: number): string => `${count === 0 ? Math.max(0, start - 1) : start},${count}`;
    lines.push(`@@ -${at(h.oldStart, h.oldLines)} +${at(h.newStart, h.newLines)} @@`);
    for (const l of h.lines) lines.push(l);
  }
  if (lines.length <= max) return lines.join('\n');
  return [...lines.slice(0, max), `... ${lines.length - max} more lines`].join('\n');
}

/** The plan with `diff` on each changed text attribute the provider handed over. */
export function withTextDiffs(plan: ResourcePlan, texts: Texts | undefined): ResourcePlan {
  if (!texts || plan.changes.length === 0) return plan;
  const changes = plan.changes.map((c): AttributeChange => {
    const t = texts[c.attribute];
    if (!t || c.path !== `/${c.attribute}`) return c;
    if (c.sensitive) return { ...c, diff: SENSITIVE_CONTENT };
    const from = t.from ?? '';
    const to = t.to ?? '';
    if (isBinary(from) || isBinary(to)) return { ...c, binary: true };
    return { ...c, diff: unifiedDiff(String(from), String(to)) };
  });
  return { ...plan, changes };
}
