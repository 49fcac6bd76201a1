import { describe, expect, it } from 'vitest';
import { ago, isDue, lastFiring } from './schedule.js';
import { dueText } from './volume.js';

const at = (s: string): Date => new Date(s);

describe('backup schedule: every as a duration or a cron expression (UTC)', () => {
  it('a duration: due when the newest snapshot is at least that old', () => {
    expect(isDue('24h', at('2026-12-04T07:00:00Z'), at('2026-12-05T06:59:59Z'))).toBe(false);
    expect(isDue('24h', at('2026-12-04T07:00:00Z'), at('2026-12-05T07:00:00Z'))).toBe(true);
    expect(isDue('24h', null, at('2026-12-05T07:00:00Z'))).toBe(true);
  });

  it('cron: the last firing at or before now', () => {
    expect(lastFiring('0 3 * * *', at('2026-12-05T02:59:00Z'))?.toISOString()).toBe('2026-12-04T03:00:00.000Z');
    expect(lastFiring('0 3 * * *', at('2026-12-05T03:00:30Z'))?.toISOString()).toBe('2026-12-05T03:00:00.000Z');
    expect(lastFiring('*/15 * * * *', at('2026-12-05T10:44:00Z'))?.toISOString()).toBe('2026-12-05T10:30:00.000Z');
    // Sunday 04:30 (weekday 0 and 7 are both Sunday); 2026-12-05 is a Saturday.
    expect(lastFiring('30 4 * * 7', at('2026-12-05T12:00:00Z'))?.toISOString()).toBe('2026-11-29T04:30:00.000Z');
    expect(lastFiring('0 0 1 1,7 *', at('2026-12-05T12:00:00Z'))?.toISOString()).toBe('2026-07-01T00:00:00.000Z');
  });

  it('cron: due when the newest snapshot is older than the last firing', () => {
    expect(isDue('0 3 * * *', at('2026-12-05T03:00:05Z'), at('2026-12-05T20:00:00Z'))).toBe(false);
    expect(isDue('0 3 * * *', at('2026-12-05T02:59:00Z'), at('2026-12-05T20:00:00Z'))).toBe(true);
  });

  it('a bad cron field is an error that says what to write', () => {
    expect(() => lastFiring('61 * * * *', new Date())).toThrow(/outside 0-59/);
    expect(() => lastFiring('a b c d e', new Date())).toThrow(/not a cron expression/);
  });

  it('the plan text names the stalest volume', () => {
    const now = at('2026-12-05T09:00:00Z');
    const a = { volumes: ['a', 'b'], repository: '/r', every: '24h' };
    expect(
      dueText(
        a,
        [
          { volume: 'a', last: '2026-12-04T07:00:00Z', count: 1 },
          { volume: 'b', last: '2026-12-05T08:00:00Z', count: 1 },
        ],
        now,
      ),
    ).toBe('backup due (last 26 h ago)');
    expect(
      dueText(
        a,
        [
          { volume: 'a', last: '2026-12-05T07:00:00Z', count: 1 },
          { volume: 'b', last: null, count: 0 },
        ],
        now,
      ),
    ).toBe('backup due (no snapshot of b yet)');
    expect(dueText(a, [{ volume: 'a', last: '2026-12-05T07:00:00Z', count: 1 }], now)).toBeNull();
    expect(ago(90_000)).toBe('90 s');
    expect(ago(4 * 86_400_000)).toBe('4 d');
  });
});
