import { describe, expect, it } from 'vitest';
import { pushExitCode, type HostResult } from './run.js';
import { formatSummary, prefixLines } from '../cli/push-format.js';

const host = (name: string, exitCode: number, status: HostResult['status'] = 'ok', changed = 0): HostResult => ({
  host: name,
  node: name,
  address: '127.0.0.1',
  port: 22,
  status,
  exitCode,
  changed,
  failed: 0,
  durationMs: 1234,
  ...(status === 'ok' ? { report: {} as never } : {}),
});

describe('push exit code: the worst over the hosts', () => {
  it.each([
    ['all unchanged', [0, 0], 0],
    ['one changed', [0, 2], 2],
    ['one failed', [0, 4], 4],
    ['changed and failed on different hosts', [2, 4], 6],
    ['one with both', [6, 0], 6],
    ['a host that did not run counts as a failure', [1, 0], 4],
    ['an interrupted host counts as a failure', [130, 2], 6],
    ['no hosts', [], 0],
  ])('%s', (_what, codes, expected) => {
    expect(pushExitCode(codes.map((c, i) => host(`h${i}`, c)))).toBe(expected);
  });

  it('an unreachable host makes it at least 4', () => {
    expect(pushExitCode([host('a', 2, 'ok', 1), host('b', 4, 'unreachable')])).toBe(6);
  });
});

describe('push output', () => {
  it('prefixes every line with the host, blank lines too', () => {
    expect(prefixLines('web-1', 'Plan\n\n  + file[x]\n')).toBe('web-1: Plan\nweb-1:\nweb-1:   + file[x]\n');
  });

  it('summarises each host in a table and names the hosts not reached', () => {
    const out = formatSummary([host('web-1', 2, 'ok', 3), host('web-22', 4, 'unreachable')], 6, false);
    expect(out.split('\n')).toEqual([
      '',
      'HOST    EXIT  CHANGED  FAILED  DURATION',
      'web-1      2        3       0  1.2 s',
      'web-22     4        -       -  1.2 s     unreachable',
      'push: 2 hosts, exit 6; not reached: web-22',
      '',
    ]);
  });
});
