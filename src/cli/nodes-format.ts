/**
 * `tsconverge nodes` for humans: one header line, then one row per node in aligned
 * columns (node, status, last report, code version, notes), then the fleet code the
 * server serves. `--format json` prints the server's answer as it is instead.
 */

export interface NodeRow {
  node: string;
  status: string;
  disabledReason?: string;
  cachedCatalogue: boolean;
  lastReportAt?: string;
  codeVersion?: string;
}
export interface NodesAnswer {
  code: { version?: string; error?: { message: string } };
  nodes: NodeRow[];
}

/** `2026-12-05T06:55:01.123Z` -> `2026-12-05 06:55:01Z`: to the second, still UTC. */
const when = (iso: string | undefined): string => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');
const code = (v: string | undefined): string => (v ? v.slice(0, 19) : '-');

export function formatNodes(body: NodesAnswer): string {
  const head = ['NODE', 'STATUS', 'LAST REPORT', 'CODE', 'NOTES'];
  const rows = body.nodes.map((n) => [
    n.node,
    n.status,
    when(n.lastReportAt),
    code(n.codeVersion),
    [n.disabledReason ? `reason: ${n.disabledReason}` : '', n.cachedCatalogue ? 'on a cached catalogue' : ''].filter(Boolean).join('; '),
  ]);
  // A loop, not Math.max(...rows): a spread of 100,000 arguments overflows the stack.
  const widths = head.map((h) => h.length);
  for (const r of rows)
    r.forEach((c, i) => {
      if (c.length > widths[i]!) widths[i] = c.length;
    });
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const out = rows.length ? [line(head), ...rows.map(line)] : ['no nodes yet: none has enrolled or fetched a catalogue'];
  out.push(
    '',
    `fleet code served: ${code(body.code.version)}${body.code.error ? ` (the fleet tree on disk does not compile: ${body.code.error.message}; still serving this)` : ''}`,
  );
  return out.join('\n') + '\n';
}
