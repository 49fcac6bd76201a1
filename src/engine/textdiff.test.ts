import { describe, expect, it } from 'vitest';
import { isBinary, unifiedDiff, withTextDiffs, SENSITIVE_CONTENT, DIFF_MAX_EDITS, DIFF_TOO_LARGE } from './textdiff.js';
import type { ResourcePlan } from '../providers/types.js';

const plan = (sensitive: boolean): ResourcePlan => ({
  action: 'update',
  forcedBy: [],
  refresh: false,
  changes: [{ path: '/content', attribute: 'content', from: 'sha256:a (3 bytes)', to: 'sha256:b (3 bytes)', effect: 'update', sensitive }],
});

describe('textdiff', () => {
  it.each([
    ['one changed line among context', 'a\nb\nc\nd\n', 'a\nb\nX\nd\n', '@@ -1,4 +1,4 @@\n a\n b\n-c\n+X\n d'],
    ['a new line at the end', 'a\n', 'a\nb\n', '@@ -1,1 +1,2 @@\n a\n+b'],
    ['from nothing', '', 'x\n', '@@ -0,0 +1,1 @@\n+x'],
  ])('%s', (_name, from, to, want) => {
    expect(unifiedDiff(from, to)).toBe(want);
  });

  it('caps a long diff and counts the rest', () => {
    const to = Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n') + '\n';
    const d = unifiedDiff('', to, 10).split('\n');
    expect(d).toHaveLength(11);
    expect(d[10]).toBe('... 91 more lines');
  });

  it('gives up on a rewrite larger than the edit bound instead of spending seconds on it', () => {
    const lines = (v: string, n: number): string => Array.from({ length: n }, (_, i) => `${v}-${i}`).join('\n') + '\n';
    expect(unifiedDiff(lines('old', DIFF_MAX_EDITS), lines('new', DIFF_MAX_EDITS))).toBe(DIFF_TOO_LARGE);
    expect(unifiedDiff(lines('old', 100), lines('new', 100)).split('\n')[0]).toBe('@@ -1,100 +1,100 @@');
  });

  it.each([
    [Buffer.from([0x61, 0x00, 0x62]), true],
    [Buffer.from([0xff, 0xfe, 0x41]), true],
    [Buffer.from('héllo'), false],
    ['plain', false],
  ])('isBinary(%s) = %s', (b, want) => expect(isBinary(b)).toBe(want));

  it('never diffs sensitive content, marks binary, diffs text', () => {
    expect(withTextDiffs(plan(true), { content: { from: 'secret1\n', to: 'secret2\n' } }).changes[0]!.diff).toBe(SENSITIVE_CONTENT);
    expect(JSON.stringify(withTextDiffs(plan(true), { content: { from: 'secret1\n', to: 'secret2\n' } }))).not.toContain('secret');
    expect(withTextDiffs(plan(false), { content: { from: Buffer.from([0, 1]), to: 'x' } }).changes[0]).toMatchObject({ binary: true });
    expect(withTextDiffs(plan(false), { content: { from: 'a\n', to: 'b\n' } }).changes[0]!.diff).toBe('@@ -1,1 +1,1 @@\n-a\n+b');
  });
});
