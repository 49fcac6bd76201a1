/**
 * The winston logger factory. Logs go to stderr (stdout carries the plan/report):
 * readable lines on a terminal (colour unless NO_COLOR is set or stderr is not a TTY),
 * or JSON lines with --log-format json.
 *
 * Under systemd (stderr is the journal: $JOURNAL_STREAM names stderr's device and
 * inode, see systemd.exec(5)) or when asked (`journald: true`), readable lines carry the
 * sd-daemon priority prefix (`<3>` error, `<4>` warning, `<6>` info, `<7>` debug), so
 * journald keeps each line's level (sd-daemon(3)).
 */
import { createRequire } from 'node:module';
import { fstatSync } from 'node:fs';
import type winston from 'winston';
import { redact } from './redact.js';

export type LogFormat = 'text' | 'json';

const LEVELS: Record<string, number> = { error: 0, warn: 1, info: 2, http: 3, verbose: 4, debug: 5, silly: 6 };
const PRIORITY: Readonly<Record<string, number>> = { error: 3, warn: 4, info: 6, http: 6, verbose: 7, debug: 7, silly: 7 };

/** True when stderr is connected to the journal ($JOURNAL_STREAM is "device:inode" of stderr). */
export function stderrIsJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  const js = env.JOURNAL_STREAM;
  if (!js) return false;
  try {
    const st = fstatSync(2);
    return js === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

type LoggerOptions = { format?: LogFormat; level?: string; journald?: boolean };

/**
 * The logger of a run. winston is loaded on the first message at an enabled level (or the
 * first other use), so a quiet run (`--log-level warn` with nothing to warn about) never loads it.
 */
export function createLogger(opts: LoggerOptions = {}): winston.Logger {
  let real: winston.Logger | undefined;
  const enabled = LEVELS[opts.level ?? 'info'] ?? LEVELS.info!;
  const get = (): winston.Logger => (real ??= createWinstonLogger(opts));
  return new Proxy({} as winston.Logger, {
    get: (_t, key) => {
      if (key === 'then') return undefined;
      if (typeof key === 'string' && key in LEVELS && !real) {
        return LEVELS[key]! > enabled ? () => undefined : (...args: unknown[]) => (get()[key as 'info'] as (...a: unknown[]) => unknown)(...args);
      }
      const l = get() as unknown as Record<PropertyKey, unknown>;
      const v = l[key];
      return typeof v === 'function' ? v.bind(l) : v;
    },
  });
}

function createWinstonLogger(opts: LoggerOptions): winston.Logger {
  const winston = createRequire(import.meta.url)('winston') as typeof import('winston');
  const journald = opts.journald ?? stderrIsJournal();
  const color = !journald && !process.env.NO_COLOR && process.stderr.isTTY && opts.format !== 'json';
  // Every log line is masked of known secret values, whatever the format.
  const mask = winston.format((info) => {
    info.message = redact(String(info.message));
    return info;
  })();
  const text = winston.format.combine(
    mask,
    ...(color ? [winston.format.colorize()] : []),
    winston.format.printf((info) => {
      const line = `${info.level}: ${String(info.message)}`;
      if (!journald) return line;
      // Every physical line gets the prefix: journald reads each as its own entry.
      const p = `<${PRIORITY[String(info.level)] ?? 6}>`;
      return line
        .split('\n')
        .map((l) => p + l)
        .join('\n');
    }),
  );
  return winston.createLogger({
    level: opts.level ?? 'info',
    format: opts.format === 'json' ? winston.format.combine(mask, winston.format.timestamp(), winston.format.json()) : text,
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] })],
  });
}
