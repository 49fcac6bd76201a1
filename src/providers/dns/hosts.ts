/**
 * /etc/hosts: tsconverge owns one marked block per dns resource and nothing else.
 *
 *     # BEGIN tsconverge managed: dns[office]
 *     10.0.0.5	db.internal db
 *     # END tsconverge managed: dns[office]
 *
 * Every line outside the block (localhost, entries written by hand or by other tools)
 * is kept byte for byte. A missing block is created at the end of the file; an empty
 * entry list removes the block.
 */

/** address -> names (the first name is the canonical one). */
export type HostEntries = Readonly<Record<string, readonly string[]>>;

export const BEGIN_MARK = '# BEGIN tsconverge managed';
export const END_MARK = '# END tsconverge managed';

export function beginLine(owner: string): string {
  return `${BEGIN_MARK}: ${owner}`;
}
export function endLine(owner: string): string {
  return `${END_MARK}: ${owner}`;
}

interface BlockSpan {
  readonly start: number;
  readonly end: number;
}

function findBlock(lines: readonly string[], owner: string): BlockSpan | null {
  const start = lines.findIndex((l) => l.trim() === beginLine(owner));
  if (start < 0) return null;
  const rel = lines.slice(start + 1).findIndex((l) => l.trim() === endLine(owner));
  // A block without its END line runs to the end of the file (a hand edit cut it short).
  return { start, end: rel < 0 ? lines.length - 1 : start + 1 + rel };
}

/** Parse hosts lines (`ADDRESS NAME [ALIAS...]`, comments and blanks ignored) into entries; an address seen twice merges its names. */
export function parseHostLines(lines: readonly string[]): HostEntries {
  const out: Record<string, string[]> = {};
  for (const raw of lines) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const [address, ...names] = line.split(/\s+/);
    if (!address || names.length === 0) continue;
    const list = (out[address] ??= []);
    for (const n of names) if (!list.includes(n)) list.push(n);
  }
  return out;
}

/** The entries in this owner's managed block, or null when the file has no such block. */
export function readManagedBlock(text: string | null, owner: string): HostEntries | null {
  if (text === null) return null;
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const span = findBlock(lines, owner);
  if (!span) return null;
  return parseHostLines(lines.slice(span.start + 1, span.end));
}

/** Merge a declared list of entries into address -> names, keeping the declared order of names. */
export function normaliseEntries(list: readonly { readonly address: string; readonly names: readonly string[] }[]): HostEntries {
  const out: Record<string, string[]> = {};
  for (const e of list) {
    const names = (out[e.address] ??= []);
    for (const n of e.names) if (!names.includes(n)) names.push(n);
  }
  return sortEntries(out);
}

/** Entries with their addresses sorted (the order of blocks' lines is not meaningful). */
export function sortEntries(entries: HostEntries): HostEntries {
  return Object.fromEntries(
    Object.keys(entries)
      .sort()
      .map((a) => [a, [...entries[a]!]]),
  );
}

/** Render the file with this owner's block replaced by `entries` (null or empty: block removed). */
export function renderHosts(existing: string | null, owner: string, entries: HostEntries | null): string {
  const lines = (existing ?? '').replace(/\r\n/g, '\n').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const span = findBlock(lines, owner);
  const block =
    entries && Object.keys(entries).length > 0
      ? [
          beginLine(owner),
          ...Object.keys(entries)
            .sort()
            .map((a) => `${a}\t${entries[a]!.join(' ')}`),
          endLine(owner),
        ]
      : [];
  if (span) lines.splice(span.start, span.end - span.start + 1, ...block);
  else lines.push(...block);
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}
