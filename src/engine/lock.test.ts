/**
 * The run lock against real processes: a child that holds the lock, a dead pid, a pid
 * reused by an unrelated process, many processes racing for one lock (exactly one wins,
 * also when they all race to take over one stale lock), and waiting.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireRunLock, processStartTime, readRunLock } from './lock.js';
import { resolveStateDir } from '../core/state-layout.js';
import { TsconvergeError } from '../core/errors.js';

const lockModule = fileURLToPath(new URL('./lock.ts', import.meta.url));
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'hr-lock-'));
  dirs.push(d);
  return d;
}

/** A node child (TypeScript through tsx) running `body` with `acquireRunLock` in scope. */
function child(body: string): ChildProcess & { out: () => string } {
  const code = `import { acquireRunLock } from ${JSON.stringify(lockModule)};\n${body}`;
  const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(c);
  let out = '';
  c.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  c.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return Object.assign(c, { out: () => out });
}

async function waitFor(check: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const exited = (c: ChildProcess): Promise<number | null> => new Promise((r) => (c.exitCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))));

describe('resolveStateDir', () => {
  const saved = process.env.TSCONVERGE_STATE_DIR;
  afterEach(() => {
    if (saved === undefined) delete process.env.TSCONVERGE_STATE_DIR;
    else process.env.TSCONVERGE_STATE_DIR = saved;
  });
  it.each([
    [{ stateDir: '/x/state', root: '/r' }, '/env', '/x/state'],
    [{ root: '/r' }, '/env', '/env'],
    [{ root: '/r' }, undefined, '/r/var/lib/tsconverge'],
    [{ root: '/' }, undefined, '/var/lib/tsconverge'],
    [{}, undefined, '/var/lib/tsconverge'],
  ])('%j with env %s -> %s', (opts, env, want) => {
    if (env === undefined) delete process.env.TSCONVERGE_STATE_DIR;
    else process.env.TSCONVERGE_STATE_DIR = env;
    expect(resolveStateDir(opts)).toBe(want);
  });
});

describe('acquireRunLock', () => {
  it('creates the state dir (0755) and a 0644 lock naming this process; release removes it', async () => {
    const dir = path.join(tempDir(), 'a/b/state');
    const lock = await acquireRunLock(dir, { command: 'apply' });
    expect(statSync(dir).mode & 0o777).toBe(0o755);
    expect(statSync(path.join(dir, 'run.lock')).mode & 0o777).toBe(0o644);
    expect(await readRunLock(dir)).toEqual({ pid: process.pid, since: lock.info.since, command: 'apply' });
    await lock.release();
    await lock.release(); // idempotent
    expect(await readRunLock(dir)).toBeNull();
    expect(readdirSync(dir)).toEqual([]); // no temp files left
  });

  it('refuses at once while a live child holds it, naming its pid and start time', async () => {
    const dir = tempDir();
    const holder = child(
      `const l = await acquireRunLock(${JSON.stringify(dir)}, { command: 'apply' }); console.log('HELD ' + l.info.since); setInterval(() => {}, 1000);`,
    );
    await waitFor(() => holder.out().includes('HELD'));
    const since = /HELD (\S+)/.exec(holder.out())![1];
    const t0 = Date.now();
    const err = await acquireRunLock(dir, { command: 'apply' }).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(err).toBeInstanceOf(TsconvergeError);
    expect((err as TsconvergeError).code).toBe('RUN_IN_PROGRESS');
    expect((err as TsconvergeError).message).toBe(`a run is already in progress (pid ${holder.pid}, since ${since})`);
    expect(await readRunLock(dir)).toEqual({ pid: holder.pid, since, command: 'apply' });
  });

  it('waits up to waitMs: gets the lock when the holder exits, else times out', async () => {
    const dir = tempDir();
    const holder = child(
      `const l = await acquireRunLock(${JSON.stringify(dir)}, { command: 'apply' }); console.log('HELD'); setTimeout(() => l.release().then(() => process.exit(0)), 700);`,
    );
    await waitFor(() => holder.out().includes('HELD'));
    const short = await acquireRunLock(dir, { command: 'apply', waitMs: 200 }).catch((e: unknown) => e);
    expect((short as TsconvergeError).code).toBe('RUN_IN_PROGRESS');
    const lock = await acquireRunLock(dir, { command: 'apply', waitMs: 10_000 });
    expect((await readRunLock(dir))!.pid).toBe(process.pid);
    await lock.release();
  });

  it('stops waiting when its signal aborts', async () => {
    const dir = tempDir();
    const holder = child(`await acquireRunLock(${JSON.stringify(dir)}, { command: 'apply' }); console.log('HELD'); setInterval(() => {}, 1000);`);
    await waitFor(() => holder.out().includes('HELD'));
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(new Error('interrupted')), 100);
    const t0 = Date.now();
    await expect(acquireRunLock(dir, { command: 'apply', waitMs: 30_000, signal: ctl.signal })).rejects.toThrow('interrupted');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('takes over the lock of a process killed with SIGKILL', async () => {
    const dir = tempDir();
    const holder = child(`await acquireRunLock(${JSON.stringify(dir)}, { command: 'apply' }); console.log('HELD'); setInterval(() => {}, 1000);`);
    await waitFor(() => holder.out().includes('HELD'));
    holder.kill('SIGKILL');
    await exited(holder);
    const lock = await acquireRunLock(dir, { command: 'apply' });
    expect((await readRunLock(dir))!.pid).toBe(process.pid);
    await lock.release();
  });

  it('takes over a lock whose pid is now a different process (start time differs)', async () => {
    const dir = tempDir();
    const other = spawn('sleep', ['30']);
    children.push(other);
    await waitFor(() => processStartTime(other.pid!) !== undefined);
    const real = processStartTime(other.pid!)!;
    writeFileSync(
      path.join(dir, 'run.lock'),
      JSON.stringify({ pid: other.pid, since: '2020-01-01T00:00:00.000Z', command: 'apply', start: String(Number(real) - 1) }),
    );
    const lock = await acquireRunLock(dir, { command: 'apply' });
    expect((await readRunLock(dir))!.pid).toBe(process.pid);
    await lock.release();
    // Control: the same live pid with its true start time is a live holder.
    writeFileSync(path.join(dir, 'run.lock'), JSON.stringify({ pid: other.pid, since: '2020-01-01T00:00:00.000Z', command: 'apply', start: real }));
    await expect(acquireRunLock(dir, { command: 'apply' })).rejects.toThrow(`a run is already in progress (pid ${other.pid}, since 2020-01-01T00:00:00.000Z)`);
  });

  it('a takeover mutex abandoned by a process that died inside it is cleared, then the stale lock taken over', async () => {
    const dir = tempDir();
    const dead = spawn('true');
    await exited(dead);
    writeFileSync(path.join(dir, 'run.lock'), JSON.stringify({ pid: dead.pid, since: '2020-01-01T00:00:00.000Z', command: 'apply' }));
    mkdirSync(path.join(dir, 'run.lock.takeover'));
    const old = new Date(Date.now() - 60_000);
    utimesSync(path.join(dir, 'run.lock.takeover'), old, old);
    const lock = await acquireRunLock(dir, { command: 'apply' });
    expect((await readRunLock(dir))!.pid).toBe(process.pid);
    await lock.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('release never removes a lock another run took over', async () => {
    const dir = tempDir();
    const lock = await acquireRunLock(dir, { command: 'apply' });
    const theirs = JSON.stringify({ pid: 1, since: '2020-01-01T00:00:00.000Z', command: 'agent' });
    writeFileSync(path.join(dir, 'run.lock'), theirs);
    await lock.release();
    expect(readFileSync(path.join(dir, 'run.lock'), 'utf8')).toBe(theirs);
  });

  it.each([
    ['a free lock', false],
    ['a stale lock (dead pid)', true],
  ])(
    '6 processes racing for %s: exactly one wins',
    async (_name, stale) => {
      const dir = tempDir();
      if (stale) {
        const dead = spawn('true');
        await exited(dead);
        writeFileSync(path.join(dir, 'run.lock'), JSON.stringify({ pid: dead.pid, since: '2020-01-01T00:00:00.000Z', command: 'apply', start: '1' }));
      }
      const go = path.join(dir, 'go');
      const racers = Array.from({ length: 6 }, () =>
        child(`
      import { existsSync } from 'node:fs';
      console.log('READY');
      while (!existsSync(${JSON.stringify(go)})) await new Promise((r) => setTimeout(r, 5));
      try { await acquireRunLock(${JSON.stringify(dir)}, { command: 'apply' }); console.log('WON'); setTimeout(() => process.exit(0), 1500); }
      catch (e) { console.log(e.code === 'RUN_IN_PROGRESS' ? 'BUSY' : 'ERR ' + e.message); process.exit(0); }`),
      );
      // Every racer loaded before the start signal, so they race for real.
      await waitFor(() => racers.every((r) => r.out().includes('READY')), 25_000);
      writeFileSync(go, '');
      await Promise.all(racers.map(exited));
      const results = racers.map((r) => r.out().replace('READY', '').trim());
      expect(results.filter((r) => r === 'WON')).toHaveLength(1);
      expect(results.filter((r) => r === 'BUSY')).toHaveLength(5);
    },
    30_000,
  );
});
