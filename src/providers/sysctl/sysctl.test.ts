import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { keyPath, normaliseValue, parseSysctlConf, persistedValue, renderSysctlConf, SYSCTL_HEADER } from './sysctld.js';
import { createSysctlProvider, type SysctlAttrs } from './sysctl.js';
import { converge, planOf, resource, tempRoot, testContext } from '../hostio.testkit.js';

describe('sysctl keys and values', () => {
  it.each([
    ['net.core.somaxconn', 'net/core/somaxconn'],
    ['net/ipv4/conf/eth0.100/rp_filter', 'net/ipv4/conf/eth0.100/rp_filter'],
    ['/net/ipv4/ip_forward', 'net/ipv4/ip_forward'],
    [' kernel.pid_max ', 'kernel/pid_max'],
  ])('%s -> %s', (key, p) => {
    expect(keyPath(key)).toBe(p);
  });

  it.each(['', 'net..core', 'net/../../etc/passwd', 'net.core.some key', 'a/./b'])('refuses %j', (key) => {
    expect(() => keyPath(key)).toThrow(/is not a sysctl key/);
  });

  it.each<[string | number | boolean, string]>([
    ['4096\t87380\t6291456\n', '4096 87380 6291456'],
    [1024, '1024'],
    [true, '1'],
    [false, '0'],
    ['  1 ', '1'],
  ])('value %j -> %j', (v, out) => {
    expect(normaliseValue(v)).toBe(out);
  });
});

describe('sysctl.d file', () => {
  it.each([
    ['plain', 'net.core.somaxconn = 1024\n', [['net.core.somaxconn', '1024']]],
    [
      'no spaces, comments, ignore-failure prefix',
      '# c\n; c\nnet.ipv4.ip_forward=1\n-net.core.rmem_max = 1 2\n',
      [
        ['net.ipv4.ip_forward', '1'],
        ['net.core.rmem_max', '1 2'],
      ],
    ],
    ['garbage lines skipped', 'hello\nnet.core.somaxconn = 5\n', [['net.core.somaxconn', '5']]],
  ])('parses %s', (_n, text, expected) => {
    expect(parseSysctlConf(text).map((l) => [l.key, l.value])).toEqual(expected);
  });

  it.each([
    ['slash form matches dot form', 'net/core/somaxconn = 7\n', 'net.core.somaxconn', '7'],
    ['last line wins', 'net.core.somaxconn = 1\nnet.core.somaxconn = 2\n', 'net.core.somaxconn', '2'],
    ['absent', 'net.core.rmem_max = 1\n', 'net.core.somaxconn', null],
  ])('persisted value: %s', (_n, text, key, value) => {
    expect(persistedValue(text, key)).toBe(value);
  });

  it.each([
    ['new file', null, 'net.core.somaxconn', '1024', [SYSCTL_HEADER, 'net.core.somaxconn = 1024']],
    [
      'replaces in place, keeps others',
      `${SYSCTL_HEADER}\na.b = 1\nnet.core.somaxconn = 5\nc.d = 2\n`,
      'net.core.somaxconn',
      '6',
      [SYSCTL_HEADER, 'a.b = 1', 'net.core.somaxconn = 6', 'c.d = 2'],
    ],
    ['dedupes a key written twice', 'net.core.somaxconn = 1\nnet/core/somaxconn = 2\n', 'net.core.somaxconn', '3', [SYSCTL_HEADER, 'net.core.somaxconn = 3']],
    ['removes', `${SYSCTL_HEADER}\na.b = 1\nnet.core.somaxconn = 5\n`, 'net.core.somaxconn', null, [SYSCTL_HEADER, 'a.b = 1']],
  ])('renders: %s', (_n, existing, key, value, lines) => {
    expect(renderSysctlConf(existing, key, value)).toBe(lines.join('\n') + '\n');
  });
});

describe('sysctl provider over a stand-in procfs', () => {
  let cleanup = (): void => undefined;
  afterEach(() => cleanup());

  it('sets, persists, is idempotent, reports drift in either place; unknown keys fail under noop too', async () => {
    const t = tempRoot('sysctl');
    cleanup = t.cleanup;
    const proc = path.join(t.root, 'fakeproc');
    mkdirSync(path.join(proc, 'sys/net/core'), { recursive: true });
    mkdirSync(path.join(proc, 'sys/kernel'), { recursive: true });
    writeFileSync(path.join(proc, 'sys/kernel/ostype'), 'Linux\n');
    writeFileSync(path.join(proc, 'sys/net/core/somaxconn'), '4096\n');
    const root = path.join(t.root, 'root');
    const ctx = testContext(root);
    const p = createSysctlProvider({ procRoot: proc });
    expect(await p.suitable(ctx)).toBeUndefined();
    const r = resource<SysctlAttrs>('sysctl', 'net.core.somaxconn', { value: 1024 });

    const first = await converge(p, r, ctx);
    expect(first.action).toBe('update');
    expect(first.changes.map((c) => [c.path, c.from, c.to]).sort()).toEqual([
      ['/value/live', '4096', '1024'],
      ['/value/persisted', null, '1024'],
    ]);
    expect(readFileSync(path.join(proc, 'sys/net/core/somaxconn'), 'utf8')).toBe('1024');
    const conf = path.join(root, 'etc/sysctl.d/90-tsconverge.conf');
    expect(readFileSync(conf, 'utf8')).toBe(`${SYSCTL_HEADER}\nnet.core.somaxconn = 1024\n`);
    expect((await converge(p, r, ctx)).action).toBe('none');

    writeFileSync(conf, `${SYSCTL_HEADER}\nnet.core.somaxconn = 9\n`);
    expect((await planOf(p, r, ctx)).plan.changes.map((c) => c.path)).toEqual(['/value/persisted']);

    const unknown = resource<SysctlAttrs>('sysctl', 'net.core.no_such_key', { value: 1 });
    await expect(planOf(p, unknown, ctx)).rejects.toMatchObject({
      code: 'SYSCTL_UNKNOWN_KEY',
      message: expect.stringContaining('unknown sysctl key net.core.no_such_key'),
    });

    const absent = resource<SysctlAttrs>('sysctl', 'net.core.somaxconn', { ensure: 'absent' });
    expect((await converge(p, absent, ctx)).action).toBe('delete');
    expect(readFileSync(conf, 'utf8')).toBe(`${SYSCTL_HEADER}\n`);
  });

  it('concurrent applies of different keys all land in the shared file', async () => {
    const t = tempRoot('sysctl');
    cleanup = t.cleanup;
    const proc = path.join(t.root, 'fakeproc');
    const keys = Array.from({ length: 12 }, (_, i) => `net.core.k${i}`);
    mkdirSync(path.join(proc, 'sys/net/core'), { recursive: true });
    for (const k of keys) writeFileSync(path.join(proc, 'sys', keyPathOf(k)), '0\n');
    const ctx = testContext(t.root);
    const p = createSysctlProvider({ procRoot: proc });
    await Promise.all(keys.map((k, i) => converge(p, resource<SysctlAttrs>('sysctl', k, { value: i + 1 }), ctx)));
    const text = readFileSync(path.join(t.root, 'etc/sysctl.d/90-tsconverge.conf'), 'utf8');
    for (const [i, k] of keys.entries()) expect(persistedValue(text, k)).toBe(String(i + 1));
  });
});

function keyPathOf(k: string): string {
  return k.replace(/\./g, '/');
}

describe('sysctl provider against the real kernel, in a fresh network namespace', () => {
  let cleanup = (): void => undefined;
  afterEach(() => cleanup());

  const inNetns = (root: string, steps: unknown[]): Record<string, any>[] => {
    const out = execFileSync(
      'unshare',
      ['--net', process.execPath, '--import', 'tsx', path.join(import.meta.dirname, 'sysctl.netns.ts'), root, JSON.stringify(steps)],
      { encoding: 'utf8' },
    );
    return out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
  };

  it('sets a value live; a refused value (EINVAL) fails clearly and changes neither the kernel nor the file', () => {
    const t = tempRoot('sysctl');
    cleanup = t.cleanup;
    const hostValue = readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim();
    const conf = path.join(t.root, 'etc/sysctl.d/90-tsconverge.conf');
    const [set, again, refused, unknown] = inNetns(t.root, [
      { name: 'net.core.somaxconn', attrs: { value: '1234' }, apply: true },
      { name: 'net.core.somaxconn', attrs: { value: '1234' }, apply: true },
      { name: 'net.ipv4.ip_local_port_range', attrs: { value: '40000 30000' }, apply: true },
      { name: 'net.core.no_such_key', attrs: { value: '1' }, apply: true },
    ]);
    expect(set).toMatchObject({ action: 'update', live: '1234' });
    expect(again).toMatchObject({ action: 'none', live: '1234' });
    expect(refused!.error).toMatchObject({
      code: 'SYSCTL_REFUSED',
      message: expect.stringMatching(/cannot set net\.ipv4\.ip_local_port_range to "40000 30000": the kernel refused the value/),
    });
    expect(refused!.live).not.toBe('40000\t30000');
    expect(unknown!.error).toMatchObject({ code: 'SYSCTL_UNKNOWN_KEY' });
    expect(readFileSync(conf, 'utf8')).toBe(`${SYSCTL_HEADER}\nnet.core.somaxconn = 1234\n`);
    // The namespace is gone; the machine keeps its own value.
    expect(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim()).toBe(hostValue);
    expect(existsSync(conf) && statSync(conf).isFile()).toBe(true);
  });
});
