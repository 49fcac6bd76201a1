/** What every command shares: logger from flags, error printing. */
import { ManifestErrors, TsconvergeError } from '../core/errors.js';
import { createLogger, type LogFormat } from '../core/log.js';

export interface GlobalFlags {
  readonly logFormat?: LogFormat;
  readonly logLevel?: string;
}

export function loggerFrom(flags: GlobalFlags) {
  return createLogger({ format: flags.logFormat, level: flags.logLevel });
}

/** Print an input error for humans (stderr) or as JSON (stdout, when --format json). */
export function printInputError(err: unknown, format: 'human' | 'json'): void {
  const list = err instanceof ManifestErrors ? err.errors : err instanceof TsconvergeError ? [err] : undefined;
  if (!list) throw err;
  if (format === 'json') {
    process.stdout.write(JSON.stringify({ formatVersion: 1, ok: false, errors: list.map((e) => e.toJSON()) }, null, 2) + '\n');
  } else {
    process.stderr.write(`error: ${list.length} problem${list.length === 1 ? '' : 's'} found; nothing was applied\n`);
    for (const e of list) process.stderr.write(`  ${e.format().replace(/\n/g, '\n  ')}\n`);
  }
}
