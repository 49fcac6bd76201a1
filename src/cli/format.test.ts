import { describe, expect, it } from 'vitest';
import { formatReport, reportJsonPieces, writeReport } from './format.js';
import type { Report, ResourceReport } from '../engine/report.js';

const resource = (i: number): ResourceReport => ({
  id: `file[/f/${i}]`,
  kind: 'file',
  name: `/f/${i}`,
  action: 'create',
  status: 'pending',
  forcedBy: [],
  refresh: false,
  durationMs: 0,
  changes: [{ path: '/content', from: undefined, to: `line ${i}`, effect: 'update' } as never],
});
const report = (n: number, extra: Partial<Report> = {}): Report => {
  const resources = Array.from({ length: n }, (_, i) => resource(i));
  return {
    formatVersion: 1,
    catalogue: 'sha256:0123456789abcdef0123',
    noop: true,
    startedAt: '2026-01-01T00:00:00.000Z',
    durationMs: 10,
    resources,
    summary: { total: n, unchanged: 0, changed: 0, pending: n, failed: 0, skipped: 0 },
    exitCode: n ? 2 : 0,
    ...extra,
  };
};

describe('streamed output', () => {
  it('the JSON pieces are byte for byte JSON.stringify(report, null, 2)', () => {
    for (const r of [report(0), report(1), report(3, { interrupted: true })]) expect([...reportJsonPieces(r)].join('')).toBe(JSON.stringify(r, null, 2) + '\n');
  });

  it('writes a report of 100,000 resources without overflowing the stack, in bounded chunks, masked chunk by chunk', () => {
    const r = report(100_000);
    for (const format of ['human', 'json'] as const) {
      const chunks: string[] = [];
      writeReport(
        r,
        format,
        (s) => chunks.push(s),
        (s) => s.replace(/line 99999/g, '(sensitive)'),
      );
      expect(chunks.length).toBeGreaterThan(10);
      expect(Math.max(...chunks.slice(0, 100).map((c) => c.length))).toBeLessThan(128 * 1024);
      const all = chunks.join('');
      expect(all).toContain('(sensitive)');
      expect(all).not.toContain('line 99999');
      if (format === 'human') expect(all.endsWith('0 unchanged, 0 failed, 0 skipped (0.0 s).\n')).toBe(true);
      else expect(JSON.parse(all).resources).toHaveLength(100_000);
    }
    expect(formatReport(report(1))).toContain('  + file[/f/0]\n');
  });
});
