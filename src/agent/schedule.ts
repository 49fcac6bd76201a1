/**
 * The agent's schedule: a run at start, then one every interval, at a per-node phase
 * (the splay) inside each interval, so a fleet restarted at once spreads its runs over
 * the interval instead of hitting the engine or the server in the same second.
 *
 * Runs are timed by the `cron` package: each next run is a one-shot CronJob at a Date
 * (cron handles long delays and clock jumps better than a bare setTimeout). The next
 * run is computed after the current one ends, so runs never overlap and a run longer
 * than the interval skips the slots it covered instead of queueing them.
 *
 * Every slot is an absolute instant (ms since the epoch), so the job needs no time zone:
 * it is created with `utcOffset: 0` and cron's date library (luxon) is given a fixed
 * locale and zone. Otherwise each job asks `Intl.DateTimeFormat` for the system's zone and
 * locale, which pages in ICU's data and code: 8.4 MB of the idle agent's resident memory
 * (58.5 -> 50.2 MB for node + cron + one job, Node 24.21, measured 2026-11-24).
 */
import { createHash } from 'node:crypto';
import { CronJob } from 'cron';
import { createRequire } from 'node:module';
import { TsconvergeError } from '../core/errors.js';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30m`, `1h`, `90s`, `1h30m`, `500ms` (a bare number is seconds) -> milliseconds. */
export function parseDuration(text: string, what = '--interval'): number {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    end = re.lastIndex;
  }
  if (t === '' || end !== t.length) {
    throw new TsconvergeError('INVALID_VALUE', `invalid ${what} ${JSON.stringify(text)}: expected a duration such as 30m, 1h, 90s or 1h30m`, {
      terminal: true,
      hint: 'units: ms, s, m, h, d; a bare number is seconds',
    });
  }
  return Math.round(total);
}

/** A duration for humans: 1800000 -> "30m", 90000 -> "1m30s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [u, n] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= n) {
      parts.push(`${Math.floor(rest / n)}${u}`);
      rest %= n;
    }
  }
  return parts.join('');
}

/** The node's splay: a deterministic offset in [0, limitMs), derived from its name. */
export function splayFor(node: string, limitMs: number): number {
  if (limitMs <= 0) return 0;
  const h = createHash('sha256').update(node).digest();
  return h.readUInt32BE(0) % Math.max(1, Math.floor(limitMs));
}

/** The first slot strictly after `now`: slots are at splay + k * interval (ms since the epoch). */
export function nextSlot(now: number, intervalMs: number, splayMs: number): number {
  const k = Math.floor((now - splayMs) / intervalMs) + 1;
  return k * intervalMs + splayMs;
}

export interface Schedule {
  /** When the next run is due (null when stopped or none is scheduled). */
  readonly next: Date | null;
  /** Schedule the next run after `now`; replaces a run already scheduled. */
  scheduleNext(now?: number): Date;
  stop(): void;
}

let luxonPinned = false;
/** Keep luxon off `Intl` (see above). Process-wide: only the agent's schedule uses luxon. */
function pinLuxon(): void {
  if (luxonPinned) return;
  // cron require()s luxon, whose package maps import and require to two builds: an ESM
  // import would configure a copy cron never sees. (scripts/build-sea.mjs turns this call
  // into a plain require, bundled with cron's.)
  const { Settings: LuxonSettings } = createRequire(import.meta.url)('luxon') as typeof import('luxon');
  LuxonSettings.defaultLocale = 'en-US';
  LuxonSettings.defaultZone = 'utc';
  luxonPinned = true;
}

export function createSchedule(opts: { intervalMs: number; splayMs: number; onTick: () => void }): Schedule {
  let job: CronJob | undefined;
  let next: Date | null = null;
  const stop = (): void => {
    void job?.stop();
    job = undefined;
    next = null;
  };
  return {
    get next() {
      return next;
    },
    scheduleNext(now = Date.now()) {
      stop();
      pinLuxon();
      const at = new Date(nextSlot(now, opts.intervalMs, opts.splayMs));
      next = at;
      job = CronJob.from({
        cronTime: at,
        onTick: () => {
          job = undefined;
          next = null;
          opts.onTick();
        },
        start: true,
        utcOffset: 0,
      });
      return at;
    },
    stop,
  };
}
