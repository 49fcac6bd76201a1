/**
 * The winston logger factory. Logs go to stderr (stdout carries the plan/report):
 * readable lines on a terminal (colour unless NO_COLOR is set or stderr is not a TTY),
 * or JSON lines with --log-format json.
 */
import winston from 'winston';

export type LogFormat = 'text' | 'json';

export function createLogger(opts: { format?: LogFormat; level?: string } = {}): winston.Logger {
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
