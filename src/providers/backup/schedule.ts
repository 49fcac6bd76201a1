/**
 * When a backup is due: `every` is a duration (due when the newest snapshot is older) or a
 * 5-field cron expression in UTC (due when the newest snapshot is older than the
 * expression's last firing). Pure: `now` is passed in.
 */
import { TsconvergeError } from '../../core/errors.js';
import { durationMs } from './restic.js';

const RANGES: readonly (readonly [number, number])[] = [
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 7],
];

function field(text: string, [lo, hi]: readonly [number, number], expr: string): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!m)
      throw new TsconvergeError('INVALID_VALUE', `every: ${JSON.stringify(expr)} is not a cron expression (field ${JSON.stringify(part)})`, {
        terminal: true,
        hint: 'write minute hour day month weekday, e.g. "0 3 * * *", or a duration such as 24h',
      });
    const from = m[1] === '*' ? lo : Number(m[2]);
    const to = m[1] === '*' ? hi : m[3] !== undefined ? Number(m[3]) : m[4] !== undefined ? hi : from;
    const step = m[4] !== undefined ? Number(m[4]) : 1;
    if (from < lo || to > hi || from > to || step < 1)
      throw new TsconvergeError('INVALID_VALUE', `every: ${JSON.stringify(expr)}: ${part} is outside ${lo}-${hi}`, {
        terminal: true,
        hint: 'minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-7',
      });
    for (let v = from; v <= to; v += step) out.add(v);
  }
  return out;
}

/** The last time at or before `now` the cron expression fired (UTC, minute precision), or null within a year. */
export function lastFiring(expr: string, now: Date): Date | null {
  const parts = expr.trim().split(/\s+/);
  const [min, hour, dom, mon, dow] = parts.map((p, i) => field(p, RANGES[i]!, expr)) as [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];
  if (dow.has(7)) dow.add(0);
  const domAny = parts[2] === '*';
  const dowAny = parts[4] === '*';
  const dayMatches = (d: Date): boolean => {
    if (!mon.has(d.getUTCMonth() + 1)) return false;
    const a = dom.has(d.getUTCDate());
    const b = dow.has(d.getUTCDay());
    if (domAny && dowAny) return true;
    if (domAny) return b;
    if (dowAny) return a;
    return a || b;
  };
  const t = new Date(Math.floor(now.getTime() / 60_000) * 60_000);
  const limit = now.getTime() - 366 * 86_400_000;
  while (t.getTime() > limit) {
    if (!dayMatches(t)) {
      t.setUTCHours(0, 0, 0, 0);
      t.setTime(t.getTime() - 60_000);
      continue;
    }
    if (!hour.has(t.getUTCHours())) {
      t.setUTCMinutes(0, 0, 0);
      t.setTime(t.getTime() - 60_000);
      continue;
    }
    if (min.has(t.getUTCMinutes())) return t;
    t.setTime(t.getTime() - 60_000);
  }
  return null;
}

/** A snapshot taken at `last` is old enough that a new one is due at `now`. */
export function isDue(every: string, last: Date | null, now: Date): boolean {
  if (!last) return true;
  if (/^\d+[smhd]$/.test(every)) return now.getTime() - last.getTime() >= durationMs(every);
  const fired = lastFiring(every, now);
  return fired !== null && last.getTime() < fired.getTime();
}

/** "26 h", "3 d", "12 min", "40 s". */
export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 3 * 86400) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}
