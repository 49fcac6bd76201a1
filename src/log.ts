/**
 * The winston logger factory. Logs go to stderr (stdout carries the plan/report):
 * readable lines on a terminal (colour unless NO_COLOR is set or stderr is not a TTY),
 * or JSON lines with --log-format json.
 */
import { createRequire } from 'node:module';
import type winston from 'winston';

export type LogFormat = 'text' | 'json';

const LEVELS: Record<string, number> = { error: 0, warn: 1, info: 2, http: 3, verbose: 4, debug: 5, silly: 6 };

/**
 * The logger of a run. winston is loaded on the first message at an enabled level (or the
 * first other use), so a quiet run (`--log-level warn` with nothing to warn about) never loads it.
 */
export function createLogger(opts: { format?: LogFormat; level?: string } = {}): winston.Logger {
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

function createWinstonLogger(opts: { format?: LogFormat; level?: string }): winston.Logger {
  const winston = createRequire(import.meta.url)('winston') as typeof import('winston');
  const color = !process.env.NO_COLOR && process.stderr.isTTY && opts.format !== 'json';
  const text = winston.format.combine(
    ...(color ? [winston.format.colorize()] : []),
    winston.format.printf((info) => `${info.level}: ${String(info.message)}`),
  );
  return winston.createLogger({
    level: opts.level ?? 'info',
    format: opts.format === 'json' ? winston.format.combine(winston.format.timestamp(), winston.format.json()) : text,
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] })],
  });
}
