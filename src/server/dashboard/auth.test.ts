import { describe, expect, it } from 'vitest';
import { createLoginLimiter } from './auth.js';

describe('login limiter', () => {
  it('lets an address try `max` wrong tokens a window, then makes it wait until the oldest is a window old', () => {
    const l = createLoginLimiter({ max: 3, windowMs: 60_000 });
    const t0 = 1_000_000;
    for (let i = 0; i < 3; i++) {
      expect(l.waitMs('10.0.0.1', t0 + i * 1000)).toBe(0);
      l.failed('10.0.0.1', t0 + i * 1000);
    }
    expect(l.waitMs('10.0.0.1', t0 + 3000)).toBe(57_000);
    expect(l.waitMs('10.0.0.2', t0 + 3000)).toBe(0); // per address
    expect(l.waitMs('10.0.0.1', t0 + 60_000)).toBe(0);
    l.failed('10.0.0.1', t0 + 60_000);
    expect(l.waitMs('10.0.0.1', t0 + 60_500)).toBe(500);
    l.succeeded('10.0.0.1');
    expect(l.waitMs('10.0.0.1', t0 + 60_500)).toBe(0);
  });

  it('remembers a bounded number of addresses', () => {
    const l = createLoginLimiter({ max: 1, windowMs: 60_000, maxTracked: 100 });
    for (let i = 0; i < 1000; i++) l.failed(`10.0.${i >> 8}.${i & 255}`, 5);
    expect(l.waitMs('10.0.0.0', 6)).toBe(0); // forgotten, oldest first
    expect(l.waitMs('10.0.3.231', 6)).toBeGreaterThan(0);
  });
});
