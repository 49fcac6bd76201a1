import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createServiceProvider, serviceViews, type ServiceAttrs, type ServiceObserved } from './service.js';
import { checkSignal, isAlive } from './process.js';
import { unitName } from './systemd.js';
import { converge, planOf, resource, tempRoot, testContext } from '../hostio.testkit.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A real daemon: logs each SIGHUP to a file, exits on SIGTERM. */
function daemon(marker: string): string[] {
  return ['/bin/sh', '-c', `trap 'echo reload >> ${marker}' HUP; trap 'exit 0' TERM; echo started; while :; do sleep 0.1; done`];
}

describe('service views', () => {
  const obs = (running: boolean, enabled: boolean | null = null, backend: 'systemd' | 'process' = 'process'): ServiceObserved => ({
    backend,
    running,
    pid: running ? 42 : null,
    enabled,
  });
  it.each<[string, ServiceAttrs, ServiceObserved, Record<string, unknown>, Record<string, unknown>]>([
    ['running wanted, stopped', {}, obs(false), { ensure: 'running' }, { ensure: 'stopped' }],
    ['stopped wanted, running', { ensure: 'stopped' }, obs(true), { ensure: 'stopped' }, { ensure: 'running' }],
    ['enable compared for systemd', { enable: true }, obs(true, false, 'systemd'), { ensure: 'running', enable: true }, { ensure: 'running', enable: false }],
    [
      'enable not compared for a static unit',
      { enable: true },
      obs(true, null, 'systemd'),
      { ensure: 'running', enable: true },
      { ensure: 'running', enable: true },
    ],
    ['enable ignored for processes', { enable: true }, obs(true), { ensure: 'running' }, { ensure: 'running' }],
  ])('%s', (_n, attrs, observed, desired, actual) => {
    expect(serviceViews(resource('service', 's', attrs), observed)).toEqual({ desired, actual });
  });

  it.each([
    ['HUP', 'SIGHUP'],
    ['SIGTERM', 'SIGTERM'],
    ['usr1', 'SIGUSR1'],
  ])('signal %s -> %s', (name, sig) => {
    expect(checkSignal(name, 'x')).toBe(sig);
  });
  it('refuses an unknown signal', () => {
    expect(() => checkSignal('SIGNOPE', 'x')).toThrow(/unknown signal/);
  });
  it.each([
    ['chrony', 'chrony.service'],
    ['docker.socket', 'docker.socket'],
    ['x.service', 'x.service'],
  ])('unit %s -> %s', (u, out) => {
    expect(unitName(u)).toBe(out);
  });
});

describe('service provider, process backend, with real processes', () => {
  let cleanup = (): void => undefined;
  const pids: number[] = [];
  afterEach(() => {
    for (const pid of pids.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    cleanup();
  });

  it('starts, checks, reloads with SIGHUP, restarts, stops', async () => {
    const t = tempRoot('service');
    cleanup = t.cleanup;
    const ctx = testContext(t.root);
    const marker = path.join(t.root, 'reloads');
    const p = createServiceProvider();
    const r = resource<ServiceAttrs>('service', 'demo', { provider: 'process', start: daemon(marker), logFile: '/var/log/demo.log' });
    expect(await p.suitable(ctx)).toBeUndefined();

    expect((await converge(p, r, ctx)).action).toBe('update');
    const pidfile = path.join(t.root, 'run/tsconverge/demo.pid');
    const pid = Number(readFileSync(pidfile, 'utf8'));
    pids.push(pid);
    expect(await isAlive(pid)).toBe(true);
    expect((await converge(p, r, ctx)).action).toBe('none');
    expect(readFileSync(path.join(t.root, 'var/log/demo.log'), 'utf8')).toContain('started');

    await p.refresh!({ ...r, attrs: { ...r.attrs, refresh: 'reload' } }, null, ctx);
    // The service's trap creates the marker, then writes it: wait for the line, not the file.
    for (let i = 0; i < 100 && !(existsSync(marker) && readFileSync(marker, 'utf8') === 'reload\n'); i++) await sleep(100);
    expect(readFileSync(marker, 'utf8')).toBe('reload\n');
    expect(Number(readFileSync(pidfile, 'utf8'))).toBe(pid);

    await p.refresh!(r, null, ctx);
    const pid2 = Number(readFileSync(pidfile, 'utf8'));
    pids.push(pid2);
    expect(pid2).not.toBe(pid);
    expect(await isAlive(pid)).toBe(false);
    expect(await isAlive(pid2)).toBe(true);

    const stopped = resource<ServiceAttrs>('service', 'demo', { ...r.attrs, ensure: 'stopped' });
    expect((await converge(p, stopped, ctx)).action).toBe('update');
    expect(await isAlive(pid2)).toBe(false);
    expect(existsSync(pidfile)).toBe(false);
    // A notification does not start a service declared stopped.
    await p.refresh!(stopped, null, ctx);
    expect((await planOf(p, stopped, ctx)).plan.action).toBe('none');
  });

  it('a pid reused by another program is not the service', async () => {
    const t = tempRoot('service');
    cleanup = t.cleanup;
    const ctx = testContext(t.root);
    mkdirSync(path.join(t.root, 'run/tsconverge'), { recursive: true });
    writeFileSync(path.join(t.root, 'run/tsconverge/demo.pid'), `${process.pid}\n`); // alive, but it is node, not the declared program
    const r = resource<ServiceAttrs>('service', 'demo', { provider: 'process', start: ['/usr/bin/tsconverge-no-such-daemon'] });
    const { observed } = await planOf(createServiceProvider(), r, ctx);
    expect(observed).toMatchObject({ running: false });
  });

  it('a command that exits at once fails the start with its output', async () => {
    const t = tempRoot('service');
    cleanup = t.cleanup;
    const ctx = testContext(t.root);
    const r = resource<ServiceAttrs>('service', 'bad', {
      provider: 'process',
      start: ['/bin/sh', '-c', 'echo "bad flag --nope" >&2; exit 3'],
      logFile: '/var/log/bad.log',
    });
    await expect(converge(createServiceProvider(), r, ctx)).rejects.toMatchObject({
      code: 'SERVICE_FAILED',
      message: expect.stringMatching(/exited with code 3[\s\S]*bad flag --nope/),
    });
    const missing = resource<ServiceAttrs>('service', 'missing', { provider: 'process', start: ['/nonexistent/daemon'] });
    await expect(converge(createServiceProvider(), missing, ctx)).rejects.toMatchObject({
      code: 'SERVICE_FAILED',
      message: expect.stringContaining('cannot start /nonexistent/daemon'),
    });
  });

  it('waits for a pidfile the command writes itself (a daemon that forks)', async () => {
    const t = tempRoot('service');
    cleanup = t.cleanup;
    const ctx = testContext(t.root);
    const pidfile = path.join(t.root, 'run/forker.pid');
    const r = resource<ServiceAttrs>('service', 'forker', {
      provider: 'process',
      writesPidfile: true,
      pidfile: '/run/forker.pid',
      start: ['/bin/sh', '-c', `mkdir -p ${path.dirname(pidfile)}; sleep 0.3; (trap 'exit 0' TERM; while :; do sleep 0.1; done) & echo $! > ${pidfile}`],
    });
    expect((await converge(createServiceProvider(), r, ctx)).action).toBe('update');
    const pid = Number(readFileSync(pidfile, 'utf8'));
    pids.push(pid);
    expect(await isAlive(pid)).toBe(true);
    await converge(createServiceProvider(), resource<ServiceAttrs>('service', 'forker', { ...r.attrs, ensure: 'stopped' }), ctx);
    expect(await isAlive(pid)).toBe(false);
  });
});
