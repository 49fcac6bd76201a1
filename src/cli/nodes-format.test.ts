import { describe, expect, it } from 'vitest';
import { formatNodes } from './nodes-format.js';

describe('tsconverge nodes (human)', () => {
  it('a header, then columns aligned whatever the lengths, then the code served', () => {
    const out = formatNodes({
      code: { version: 'sha256:0123456789abcdef0123' },
      nodes: [
        {
          node: 'a-very-long-host-name.example.org',
          status: 'failed',
          cachedCatalogue: true,
          lastReportAt: '2026-12-05T06:55:01.123Z',
          codeVersion: 'sha256:0123456789abcdef0123',
        },
        { node: 'db', status: 'disabled', disabledReason: 'change window', cachedCatalogue: false },
      ],
    });
    const lines = out.split('\n');
    expect(lines[0]).toMatch(/^NODE +STATUS +LAST REPORT +CODE +NOTES$/);
    expect(lines[1]).toBe('a-very-long-host-name.example.org  failed    2026-12-05 06:55:01Z  sha256:0123456789ab  on a cached catalogue');
    expect(lines[2]).toBe('db                                 disabled  -                     -                    reason: change window');
    for (const col of ['STATUS', 'LAST REPORT', 'CODE', 'NOTES']) {
      const at = lines[0]!.indexOf(col);
      expect(lines[1]![at - 1], col).toBe(' ');
      expect(lines[1]![at], col).not.toBe(' ');
    }
    expect(out).toMatch(/\n\nfleet code served: sha256:0123456789ab\n$/);
  });

  it('no nodes: says so instead of an empty table; a broken tree on disk is named', () => {
    const out = formatNodes({ code: { version: 'sha256:ab', error: { message: 'site.yaml:3:1 bad' } }, nodes: [] });
    expect(out).toMatch(/^no nodes yet/);
    expect(out).toContain('does not compile: site.yaml:3:1 bad; still serving this');
  });

  it('200,000 nodes: every row, aligned (no spread of the rows into one call: that overflowed the stack)', () => {
    const nodes = Array.from({ length: 200_000 }, (_, i) => ({ node: `n-${i}`, status: 'unchanged', cachedCatalogue: false }));
    const lines = formatNodes({ code: {}, nodes }).split('\n');
    expect(lines).toHaveLength(200_000 + 4);
    expect(lines[1]).toBe(`n-0${' '.repeat('n-199999'.length - 3)}  unchanged  -            -`);
  });
});
