/**
 * The winston logger factory. Logs go to stderr (stdout carries the plan/report):
 * readable lines on a terminal (colour unless NO_COLOR is set or stderr is not a TTY),
 * or JSON lines with --log-format json.
 */
import winston from 'winston';
import { redact } from './engine/redact.js';

export type LogFormat = 'text' | 'json';

export function createLogger(opts: { format?: LogFormat; level?: string } = {}): winston.Logger {
  const color = !process.env.NO_COLOR && process.stderr.isTTY && opts.format !== 'json';
  // Every log line is masked of known secret values, whatever the format.
  const mask = winston.format((info) => { info.message = redact(String(info.message)); return info; })();
  const text = winston.format.combine(
    mask,
    ...(color ? [winston.format.colorize()] : []),
    winston.format.printf((info) => `${info.level}: ${String(info.message)}`),
  );
  return winston.createLogger({
    level: opts.level ?? 'info',
    format: opts.format === 'json' ? winston.format.combine(mask, winston.format.timestamp(), winston.format.json()) : text,
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] })],
  });
}
