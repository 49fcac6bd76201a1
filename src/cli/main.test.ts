/** The last-resort handler: one line, no stack trace unless --log-level debug. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { reportUnexpected } from './main.js';
import { ManifestErrors, TsconvergeError } from '../core/errors.js';

let written = '';
afterEach(() => {
  vi.restoreAllMocks();
  written = '';
  process.exitCode = undefined;
});
const capture = (): void => {
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
    written += String(s);
    return true;
  });
};

describe('reportUnexpected', () => {
  it.each([
    [
      'a TypeError',
      new TypeError("Cannot read properties of undefined (reading 'x')"),
      /^tsconverge: unexpected error: Cannot read properties of undefined \(reading 'x'\)\n/,
    ],
    ['a multi-line message', new Error('first line\nsecond line'), /^tsconverge: unexpected error: first line\n/],
    ['a thrown string', 'boom', /^tsconverge: unexpected error: boom\n/],
    [
      'a TsconvergeError',
      new TsconvergeError('LIMIT_EXCEEDED', 'nesting deeper than 64 levels', { location: { file: 'm.yaml', line: 1, column: 76 } }),
      /^error: m\.yaml:1:76: nesting deeper than 64 levels\n/,
    ],
    [
      'ManifestErrors',
      new ManifestErrors([new TsconvergeError('MANIFEST_PARSE', 'bad', { location: { file: 'm.yaml', line: 2 } })]),
      /^error: 1 error in the manifests:\n {2}m\.yaml:2: bad\n/,
    ],
  ])('%s: one message, a pointer to --log-level debug, no stack, exit 1', (_name, err, first) => {
    capture();
    reportUnexpected(err, ['node', 'tsconverge', 'apply']);
    expect(written).toMatch(first);
    expect(written).toContain('run with --log-level debug for the stack');
    expect(written).not.toMatch(/\n\s+at /);
    expect(process.exitCode).toBe(1);
  });
  it.each([['--log-level', 'debug'], ['--log-level=debug']])('%s prints the stack', (...flags) => {
    capture();
    reportUnexpected(new Error('boom'), ['node', 'tsconverge', ...flags, 'apply']);
    expect(written).toMatch(/^tsconverge: unexpected error: boom\nError: boom\n\s+at /);
  });
});
