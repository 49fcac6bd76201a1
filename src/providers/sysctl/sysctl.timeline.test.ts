/**
 * sysctl through the real CLI, every run inside one throwaway network namespace
 * (`ip netns exec`), where net.* keys are private: the machine's own values never
 * change. The persisted file is written under a temp root.
 *
 * Timeline: apply -> changed; again -> nothing; a live value changed by hand -> noop
 * reports it, exit 2, nothing touched; apply -> repaired. A value the kernel refuses
 * and an unknown key: exit 4, a clear error, the live value and the file unchanged,
 * the subscribed service not restarted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { alive, cli, fingerprint, readPidfile, reported, tempRoot } from '../hostio.testkit.js';
import { SYSCTL_HEADER } from './sysctld.js';

const ns = `tsc-test-${randomBytes(3).toString('hex')}`;
const prefix = ['ip', 'netns', 'exec', ns];
let t: ReturnType<typeof tempRoot>;
let root: string;
const hostValues: Record<string, string> = {};
const KEYS = ['net.core.somaxconn', 'net.ipv4.ip_local_port_range', 'net.ipv4.tcp_fin_timeout'];
const live = (key: string): string =>
  execFileSync('ip', ['netns', 'exec', ns, 'cat', `/proc/sys/${key.replace(/\./g, '/')}`], { encoding: 'utf8' })
    .trim()
    .split(/\s+/)
    .join(' ');

beforeAll(() => {
  for (const k of KEYS) hostValues[k] = readFileSync(`/proc/sys/${k.replace(/\./g, '/')}`, 'utf8').trim();
  execFileSync('ip', ['netns', 'add', ns]);
  t = tempRoot('sysctl-timeline');
  root = path.join(t.root, 'root');
});
afterAll(() => {
  try {
    process.kill(readPidfile(path.join(root, 'run/tsconverge/app.pid')), 'SIGKILL');
  } catch {
    /* not running */
  }
  try {
    execFileSync('ip', ['netns', 'delete', ns]);
  } finally {
    t?.cleanup();
  }
  // The machine's own values are untouched.
  for (const k of KEYS) expect(readFileSync(`/proc/sys/${k.replace(/\./g, '/')}`, 'utf8').trim()).toBe(hostValues[k]);
});

function manifest(name: string, body: string): string {
  const file = path.join(t.root, name);
  writeFileSync(
    file,
    `resources:\n${body}\n  - kind: service\n    name: app\n    provider: process\n    start: [/bin/sh, -c, "trap 'exit 0' TERM; while :; do sleep 0.1; done"]\n    subscribe: ["sysctl[net.core.somaxconn]", "sysctl[net.ipv4.ip_local_port_range]"]\n`,
  );
  return file;
}
const good = `  - { kind: sysctl, name: net.core.somaxconn, value: 1024 }
  - { kind: sysctl, name: net.ipv4.ip_local_port_range, value: "20000 40000" }
  - { kind: sysctl, name: net.ipv4.tcp_fin_timeout, value: 15 }`;

describe('sysctl timeline in a throwaway network namespace', () => {
  const conf = 'etc/sysctl.d/90-tsconverge.conf';
  const pid = (): number => readPidfile(path.join(root, 'run/tsconverge/app.pid'));

  it('apply -> changed; again -> nothing; drift -> noop reports, touches nothing; apply -> repaired', async () => {
    const m = manifest('sysctl.yaml', good);
    const run = (...extra: string[]) => cli(['apply', m, '--root', root, '--format', 'json', ...extra], { prefix });
    const first = await run();
    expect(first.code, first.stdout + first.stderr).toBe(2);
    for (const k of KEYS) expect(reported(first, `sysctl[${k}]`)).toMatchObject({ status: 'changed' });
    expect(live('net.core.somaxconn')).toBe('1024');
    expect(live('net.ipv4.ip_local_port_range')).toBe('20000 40000');
    expect(live('net.ipv4.tcp_fin_timeout')).toBe('15');
    const text = readFileSync(path.join(root, conf), 'utf8');
    expect(text.startsWith(SYSCTL_HEADER + '\n')).toBe(true);
    expect(text.split('\n').slice(1).filter(Boolean).sort()).toEqual([
      'net.core.somaxconn = 1024',
      'net.ipv4.ip_local_port_range = 20000 40000',
      'net.ipv4.tcp_fin_timeout = 15',
    ]);

    const converged = fingerprint(root, [conf]);
    const second = await run();
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(fingerprint(root, [conf])).toBe(converged);

    execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', 'echo 2048 > /proc/sys/net/core/somaxconn']);
    const pid1 = pid();
    const noop = await run('--noop');
    expect(noop.code, noop.stdout + noop.stderr).toBe(2);
    expect(reported(noop, 'sysctl[net.core.somaxconn]')).toMatchObject({
      action: 'update',
      status: 'pending',
      changes: [{ path: '/value/live', from: '2048', to: '1024' }],
    });
    expect(reported(noop, 'sysctl[net.ipv4.tcp_fin_timeout]')).toMatchObject({ status: 'unchanged' });
    expect(live('net.core.somaxconn')).toBe('2048');
    expect(fingerprint(root, [conf])).toBe(converged);
    expect(pid()).toBe(pid1);

    const repair = await run();
    expect(repair.code, repair.stdout + repair.stderr).toBe(2);
    expect(live('net.core.somaxconn')).toBe('1024');
    expect(pid()).not.toBe(pid1); // subscribed: restarted
  });

  it('a value the kernel refuses: exit 4, clear error, live value and file unchanged, service not restarted', async () => {
    const before = fingerprint(root, [conf]);
    const pid1 = pid();
    const m = manifest('sysctl-refused.yaml', good.replace('"20000 40000"', '"40000 30000"'));
    const run = await cli(['apply', m, '--root', root, '--format', 'json'], { prefix });
    expect(run.code, run.stdout + run.stderr).toBe(4);
    expect(reported(run, 'sysctl[net.ipv4.ip_local_port_range]')).toMatchObject({
      status: 'failed',
      error: {
        code: 'SYSCTL_REFUSED',
        message: expect.stringContaining('cannot set net.ipv4.ip_local_port_range to "40000 30000": the kernel refused the value'),
      },
    });
    expect(reported(run, 'service[app]')).toMatchObject({ status: 'skipped' });
    expect(live('net.ipv4.ip_local_port_range')).toBe('20000 40000');
    expect(fingerprint(root, [conf])).toBe(before);
    expect(pid()).toBe(pid1);
    expect(alive(pid1)).toBe(true);
  });

  it('an unknown key is refused before the run (input error at its name, exit 1), under noop too', async () => {
    const m = manifest('sysctl-unknown.yaml', good + '\n  - { kind: sysctl, name: net.core.somaxconn_typo, value: 1 }');
    const before = fingerprint(root, [conf]);
    for (const extra of [['--noop'], []]) {
      const run = await cli(['apply', m, '--root', root, '--format', 'json', ...extra], { prefix });
      expect(run.code, run.stdout + run.stderr).toBe(1);
      expect(JSON.parse(run.stdout).errors).toContainEqual(
        expect.objectContaining({
          code: 'SYSCTL_UNKNOWN_KEY',
          resource: 'sysctl[net.core.somaxconn_typo]',
          message: 'unknown sysctl key net.core.somaxconn_typo: /proc/sys/net/core/somaxconn_typo does not exist',
          location: expect.objectContaining({ file: m, pointer: '/resources/3/name', line: 5, column: 21 }),
        }),
      );
    }
    expect(fingerprint(root, [conf])).toBe(before);
  });
});
