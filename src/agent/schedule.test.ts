import { describe, expect, it } from 'vitest';
import { formatDuration, nextSlot, parseDuration, splayFor } from './schedule.js';

describe('parseDuration', () => {
  it.each([
    ['30m', 1_800_000],
    ['1h', 3_600_000],
    ['90s', 90_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['45', 45_000],
    ['1.5s', 1500],
    ['2d', 172_800_000],
  ])('%s -> %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', 'm', '30x', '30 m', '-5s', '1h-', 'soon'])('refuses %j with a clear error', (text) => {
    expect(() => parseDuration(text)).toThrow(/invalid --interval .*expected a duration such as 30m, 1h, 90s/);
  });
});

describe('formatDuration', () => {
  it.each([
    [1_800_000, '30m'],
    [90_000, '1m30s'],
    [5_400_000, '1h30m'],
    [250, '250ms'],
  ])('%d -> %s', (ms, text) => expect(formatDuration(ms)).toBe(text));
});

describe('splay', () => {
  it('is deterministic per node, below the limit, and spreads a fleet', () => {
    const limit = 1_800_000;
    const nodes = Array.from({ length: 200 }, (_, i) => `web-${i}`);
    const splays = nodes.map((n) => splayFor(n, limit));
    expect(nodes.map((n) => splayFor(n, limit))).toEqual(splays);
    for (const s of splays) expect(s >= 0 && s < limit).toBe(true);
    // 200 nodes over 30 minutes: nearly all in different seconds.
    expect(new Set(splays.map((s) => Math.floor(s / 1000))).size).toBeGreaterThan(185);
  });
  it('is 0 with no limit', () => expect(splayFor('web-1', 0)).toBe(0));
});

describe('nextSlot', () => {
  it.each([
    // now, interval, splay -> next
    [0, 1000, 0, 1000],
    [999, 1000, 0, 1000],
    [1000, 1000, 0, 2000],
    [1000, 1000, 250, 1250],
    [1250, 1000, 250, 2250],
    [10_000_123, 3000, 1234, 10_000_234],
  ])('now %d, every %d, splay %d -> %d', (now, interval, splay, next) => {
    const t = nextSlot(now, interval, splay);
    expect(t).toBe(next);
    expect(t).toBeGreaterThan(now);
    expect(t - now).toBeLessThanOrEqual(interval);
  });
});
